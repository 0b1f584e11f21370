// The viewer's pointer and keyboard handling: it changes the view and calls the viewer's
// onHover / onChipClick hooks; drawing is the viewer's.

/** Wheel zoom, drag to pan, hover and click on chips, and the keyboard, on the viewer's canvas. */
export function bindInput(v) {
  const c = v.canvas;
  c.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      const r = c.getBoundingClientRect();
      const delta = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
      v.zoomBy(Math.exp(-delta * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    },
    { passive: false },
  );

  let drag = null;
  c.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    c.setPointerCapture(ev.pointerId);
    drag = { x: ev.clientX, y: ev.clientY, tx: v.tx, ty: v.ty, moved: false };
  });
  c.addEventListener("pointermove", (ev) => {
    if (drag) {
      const dx = ev.clientX - drag.x;
      const dy = ev.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) > 4) {
        drag.moved = true;
        v._userMoved = true;
        c.classList.add("panning");
      }
      if (drag.moved) {
        v.tx = drag.tx + dx;
        v.ty = drag.ty + dy;
        v.requestDraw();
      }
      return;
    }
    const p = v.toImage(ev.clientX, ev.clientY);
    const chip = v.chipAt(p.x, p.y);
    if ((chip && (!v.hover || chip.row !== v.hover.row || chip.col !== v.hover.col)) || (!chip && v.hover)) {
      v.hover = chip;
      v.requestDraw();
    }
    if (v.onHover) v.onHover(chip, p);
  });
  const end = (ev) => {
    if (!drag) return;
    const wasDrag = drag.moved;
    drag = null;
    c.classList.remove("panning");
    if (ev.type === "pointerup" && !wasDrag && v.onChipClick) {
      const p = v.toImage(ev.clientX, ev.clientY);
      const chip = v.chipAt(p.x, p.y);
      if (chip) v.onChipClick(chip.row, chip.col, ev);
    }
  };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  c.addEventListener("pointerleave", () => {
    if (v.hover) {
      v.hover = null;
      v.requestDraw();
    }
    if (v.onHover) v.onHover(null, null);
  });
  bindKeys(v);
}

/** Arrows pan, + and - zoom, 0 fits, G shows or hides the grid lines. */
function bindKeys(v) {
  const c = v.canvas;
  c.addEventListener("keydown", (ev) => {
    const step = 60;
    const map = {
      ArrowLeft: () => {
        v.tx += step;
      },
      ArrowRight: () => {
        v.tx -= step;
      },
      ArrowUp: () => {
        v.ty += step;
      },
      ArrowDown: () => {
        v.ty -= step;
      },
      "+": () => v.zoomBy(1.25),
      "=": () => v.zoomBy(1.25),
      "-": () => v.zoomBy(0.8),
      0: () => v.fit(),
      g: () => v.setShowGrid(!v.showGrid),
    };
    if (map[ev.key] && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      ev.stopPropagation();
      if (ev.key.startsWith("Arrow")) v._userMoved = true;
      map[ev.key]();
      v.requestDraw();
    }
  });
}
