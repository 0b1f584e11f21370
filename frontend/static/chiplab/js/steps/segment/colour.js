// The colour a result's class is drawn in, shared by the overlay, the table, the charts and
// the frames: the workspace's class colour now, which may have changed since the result.

/** A class's colour now (it may have been changed since the result was made). */
export function colourOf(ws, c) {
  const live = ws.classById(c.id);
  return live?.colour || c.colour;
}
