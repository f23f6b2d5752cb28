"""`layerlab run`: train a study, or resume one of its runs, recording every epoch."""
import sys
from pathlib import Path

from layerlab.errors import LayerlabError

from .base import INTERRUPTED, Command, positive, store_flag

ADDRESS_ALONE = ("run: --address: expected together with --backend ray; received --address {address} alone. "
                 "Add --backend ray.")
WORKERS_ON_RAY = ("run: --workers: expected with --backend local; received --workers {workers} with --backend "
                  "{backend}. Ray places its tasks itself: leave --workers out.")
NO_STUDY = ("run: study: expected a study file or --resume RUN; received neither. "
            "Pass e.g. `layerlab run studies/dropout.toml`.")


class Run(Command):
    """Train a study (every variant at once), recording each epoch into the store."""

    def add_arguments(self, parser):
        parser.add_argument("study", nargs="?", help="a TOML study file, e.g. studies/dropout.toml")
        parser.add_argument("--epochs", type=positive, help="override the study's epochs")
        parser.add_argument("--resume", nargs="?", const=True, metavar="RUN",
                            help="continue RUN, or this study's last unfinished run, from its last committed epoch")
        parser.add_argument("--force", action="store_true",
                            help="with --resume: take over a run whose owner on another host has been silent too "
                                 "long (see docs/reliability.md); a run whose owner lives is never taken over")
        parser.add_argument("--keep-best", action="store_true",
                            help="also keep each variant's checkpoint at its lowest val_loss")
        parser.add_argument("--quiet", action="store_true", help="no progress output")
        parser.add_argument("--backend", choices=("local", "ray"), default="local",
                            help="train here (default) or on a Ray cluster (pip install \"layerlab[ray]\")")
        parser.add_argument("--workers", type=positive, metavar="N",
                            help="with --backend local: programs that train at once (default: one per core)")
        parser.add_argument("--address", metavar="ADDR",
                            help="with --backend ray: the cluster, e.g. auto or HOST:6379 (default: $RAY_ADDRESS, "
                                 "else the one `ray start` began on this machine, else a new one here)")

    def take_action(self, args):
        from layerlab import backends
        from layerlab.errors import ConfigError
        from layerlab.runs import display
        from layerlab.store import StoreRecorder
        if args.address is not None and args.backend != "ray":
            raise ConfigError(ADDRESS_ALONE.format(address=args.address))
        if args.workers is not None and args.backend != "local":
            raise ConfigError(WORKERS_ON_RAY.format(workers=args.workers, backend=args.backend))
        backend = backends.Ray(address=args.address) if args.backend == "ray" else backends.Local(args.workers)
        store, study, resume, epochs = _study_and_run(args)
        if study is None:
            return 0
        if args.backend == "ray":
            backend.connect()  # a wrong --address: one line within seconds, and no run recorded
        data, dataset = study.data()  # every dataset of the study, and its name and checksum for the store

        def announce(recorder):
            verb = f"resumed after {recorder.epochs_before} epochs" if resume else "started"
            print(f"run {recorder.run_id} {verb}: {display(study.file)}; recording into {store.path}", flush=True)

        recorder = StoreRecorder(store, resume=resume, dataset=dataset, announce=announce,
                                 study={"path": str(Path(study.file).resolve()), "text": study.text,
                                        "resolved": study.resolved(epochs)},
                                 keep_best=study.keep_best or args.keep_best, force=args.force)
        verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
        try:
            result = study.train(data, epochs, verbose=verbose, store=recorder, backend=backend)
        except LayerlabError as e:
            if recorder.status != "failed":
                raise
            hint = f"`layerlab run --resume {recorder.run_id}{store_flag(args)}`"
            raise type(e)(f"{str(e).rstrip('.')} with {hint}.") from None
        except KeyboardInterrupt:
            if recorder.run_id is None:
                raise
            run = store.run(recorder.run_id)
            print(f"layerlab: interrupted: run {run['id']} stopped with {run['epochs_completed']} of {run['epochs']} "
                  f"epochs recorded; resume with `layerlab run --resume {run['id']}{store_flag(args)}`",
                  file=sys.stderr)
            return INTERRUPTED
        run_id, flag = result.run_id, store_flag(args)
        print(f"run {run_id} finished: {len(getattr(result, 'variants', [0]))} variant(s) x "
              f"{study.fit_kwargs(epochs)['epochs']} epochs in {store.path}; see `layerlab show {run_id}{flag}`, "
              f"`layerlab show {run_id} --analysis{flag}`, `layerlab plot {run_id} --out figures{flag}`, "
              f"`layerlab export {run_id} --format csv{flag}`")
        print(f"everything on one page (study, model, results, analysis, curves): "
              f"`layerlab report {run_id} --out report.html{flag}`")
        return 0


def _study_and_run(args):
    """(store, study, run id to resume or None, epochs) for `run`; study None if nothing to do.
    A bad study or run id is reported before the store is created."""
    from layerlab import study as studies
    from layerlab.errors import ConfigError
    from layerlab.runs import display, run_to_resume
    from layerlab.store import Store
    resume = args.resume
    if isinstance(resume, str) and not resume.isdigit() and args.study is None:
        args.study, resume = resume, True  # `layerlab run --resume studies/x.toml`
    if isinstance(resume, str):
        store = Store.open(args.store)
        run = run_to_resume(store, resume, args.study)
        study = studies.loads(run["study_text"], display(run["study"]))
    elif args.study is None:
        raise ConfigError(NO_STUDY)
    else:
        study = studies.load(args.study)
        store = Store.open(args.store, create=True)
        run = run_to_resume(store, True, args.study) if resume else None
        if resume and run is None:
            print(f"no earlier run of {args.study} in {store.path}; starting a new one")
    if run is None:
        return store, study, None, args.epochs
    if run["status"] == "finished":
        print(f"run {run['id']} of {display(run['study'])} already finished ({run['epochs_completed']} of "
              f"{run['epochs']} epochs); nothing to resume. See `layerlab show {run['id']}`.")
        return store, None, None, None
    return store, study, run["id"], args.epochs or run["spec"]["fit"]["epochs"]
