"""model.summary() in the classic Keras text layout (tf.keras 2), byte for byte.

The table is 65 columns wide with column stops at 29 and 55 (Keras' positions .45 and .85 for
sequential models). Every row is padded to its last stop, as Keras does.
"""
LINE_LENGTH = 65
POSITIONS = (0.45, 0.85, 1.0)


def _row(fields, positions):
    # Mirrors Keras' print_row: each field is cut at its stop and padded to it, one space kept
    # between a field that reaches its stop and the next one.
    line = ""
    for i, field in enumerate(fields):
        if i > 0:
            line = line[:-1] + " "
        line += str(field)
        line = line[: positions[i]]
        line += " " * (positions[i] - len(line))
    return line


def format_shape(shape):
    return str((None,) + tuple(shape))


def summary_lines(model_name, rows, line_length=None, positions=None):
    """rows: (layer name, class name, output shape without batch, param count, of which non-trainable)."""
    line_length = line_length or LINE_LENGTH
    positions = positions or POSITIONS
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    lines = [f'Model: "{model_name}"', "_" * line_length,
             _row(["Layer (type)", "Output Shape", "Param #"], positions), "=" * line_length]
    for i, (name, cls, shape, count, _) in enumerate(rows):
        lines.append(_row([f"{name} ({cls})", format_shape(shape), count], positions))
        lines.append(("=" if i == len(rows) - 1 else "_") * line_length)
    if not rows:
        lines.append("=" * line_length)
    total = sum(r[3] for r in rows)
    fixed = sum(r[4] for r in rows)
    lines += [f"Total params: {total:,}", f"Trainable params: {total - fixed:,}",
              f"Non-trainable params: {fixed:,}", "_" * line_length]
    return lines
