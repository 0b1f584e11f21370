// What the viewer draws over the micrograph, in screen pixels: the chip grid and chip highlights.

/** The chip grid's lines and outline, its cropped margins shaded (visible chips c0–c1, r0–r1). */
export function drawGrid(v, g, { c0, r0, c1, r1 }) {
  const { ctx, scale: s, tx, ty } = v;
  const step = g.chip * s;
  const left = tx + g.ox * s;
  const top = ty + g.oy * s;
  const right = left + g.cols * step;
  const bottom = top + g.rows * step;
  // Cropped margins: shade what belongs to no chip.
  ctx.fillStyle = "rgba(20, 24, 30, 0.45)";
  const ix0 = tx,
    iy0 = ty,
    ix1 = tx + v.W * s,
    iy1 = ty + v.H * s;
  if (top > iy0) ctx.fillRect(ix0, iy0, ix1 - ix0, top - iy0);
  if (bottom < iy1) ctx.fillRect(ix0, bottom, ix1 - ix0, iy1 - bottom);
  if (left > ix0) ctx.fillRect(ix0, top, left - ix0, bottom - top);
  if (right < ix1) ctx.fillRect(right, top, ix1 - right, bottom - top);

  if (v.showGrid && step >= 3) {
    ctx.beginPath();
    const ya = Math.max(top, 0),
      yb = Math.min(bottom, v.ch);
    const xa = Math.max(left, 0),
      xb = Math.min(right, v.cw);
    for (let c = c0; c <= c1; c++) {
      const x = Math.round(left + c * step) + 0.5;
      ctx.moveTo(x, ya);
      ctx.lineTo(x, yb);
    }
    for (let r = r0; r <= r1; r++) {
      const y = Math.round(top + r * step) + 0.5;
      ctx.moveTo(xa, y);
      ctx.lineTo(xb, y);
    }
    ctx.lineWidth = 1;
    ctx.strokeStyle = step < 8 ? "rgba(255,255,255,0.18)" : "rgba(255,255,255,0.38)";
    ctx.stroke();
  }
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "rgba(255,255,255,0.75)";
  ctx.strokeRect(left, top, right - left, bottom - top);
}

/** The highlighted chips (examples, flags, suggestions, others' votes) and the hovered one. */
export function drawChips(v, g, { c0, r0, c1, r1 }) {
  const { ctx, scale: s, tx, ty } = v;
  const step = g.chip * s;
  const inset = Math.min(2, step / 6);
  for (const chip of v.chips) {
    if (chip.row < r0 || chip.row >= r1 || chip.col < c0 || chip.col >= c1) continue;
    const x = tx + (g.ox + chip.col * g.chip) * s;
    const y = ty + (g.oy + chip.row * g.chip) * s;
    if (chip.kind === "flag") {
      // An example the model disagrees with: a red-and-white dashed frame over the result.
      ctx.lineWidth = Math.max(2, Math.min(4, step / 8));
      ctx.setLineDash([6, 4]);
      ctx.strokeStyle = "#ffffff";
      ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
      ctx.lineDashOffset = 5;
      ctx.strokeStyle = "#d7191c";
      ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
      ctx.setLineDash([]);
      ctx.lineDashOffset = 0;
      continue;
    }
    if (chip.kind === "suggest") {
      // "Label this next": an amber dashed frame, brighter on the focused suggestion.
      ctx.lineWidth = Math.max(2, Math.min(4, step / 8));
      ctx.setLineDash([5, 3]);
      ctx.strokeStyle = chip.focused ? "#ffd54a" : "rgba(255, 191, 0, 0.85)";
      ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
      ctx.setLineDash([]);
      if (step >= 18 && chip.label) {
        ctx.font = `600 ${Math.min(14, Math.round(step / 3))}px system-ui, sans-serif`;
        ctx.fillStyle = "#ffbf00";
        ctx.fillText(chip.label, x + inset + 3, y + inset + Math.min(14, step / 3) + 1);
      }
      continue;
    }
    if (chip.kind === "other") {
      // Someone else's vote: a corner marker, so that one's own clicks stay readable.
      const m = Math.max(4, step * 0.28);
      ctx.fillStyle = chip.color;
      ctx.beginPath();
      ctx.moveTo(x + step - m, y);
      ctx.lineTo(x + step, y);
      ctx.lineTo(x + step, y + m);
      ctx.closePath();
      ctx.fill();
      continue;
    }
    ctx.globalAlpha = 0.35;
    ctx.fillStyle = chip.color;
    ctx.fillRect(x, y, step, step);
    ctx.globalAlpha = 1;
    ctx.lineWidth = Math.max(1.5, Math.min(3, step / 10));
    ctx.strokeStyle = chip.color;
    ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
  }
  const hv = v.hover;
  if (hv && v.onChipClick) {
    const x = tx + (g.ox + hv.col * g.chip) * s;
    const y = ty + (g.oy + hv.row * g.chip) * s;
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff";
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(x + 1, y + 1, step - 2, step - 2);
    ctx.setLineDash([]);
  }
}
