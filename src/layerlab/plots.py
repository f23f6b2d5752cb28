"""Learning curves as the article draws them: one line per variant, legend outside right,
ticks inward, integer epoch ticks, fixed y-limits."""
import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# The article's y-limits (SEED-SPEC.md section 5).
ARTICLE_YLIM = {"accuracy": (0.90, 1.00), "val_accuracy": (0.95, 1.00),
                "loss": (0.00, 0.20), "val_loss": (0.05, 0.30)}


def learning_curve(result, metric, ylim=None, ax=None):
    """Draws `metric` of every variant of a SweepResult against the epoch; returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4.5))
    else:
        fig = ax.figure
    values = result.metrics[metric]
    epochs = range(1, values.shape[1] + 1)
    for i in range(len(result)):
        ax.plot(epochs, values[i], label=result.label(i))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(direction="in")
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0)
    fig.tight_layout()
    return fig
