// The board's keys: 1–9 switch class; with suggestions, N shows the next one and a class key,
// A or Enter labels the one in focus.

/** The keydown handler; `select(classId)` makes a class the active one. */
export function boardKeys({ ws, canVote, suggest, select }) {
  return (ev) => {
    if (ev.target.closest?.('input[type="text"], input[type="number"], textarea, select')) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    // Enter on a button keeps its meaning (the suggestions' own buttons aside)
    if (
      ev.key === "Enter" &&
      ev.target.closest &&
      ev.target.closest("button, a, summary") &&
      !ev.target.closest("[data-testid=next-list]")
    )
      return;
    const k = parseInt(ev.key, 10);
    const accepting = canVote && suggest.current;
    if (k >= 1 && k <= 9 && ws.classes[k - 1]) {
      ev.preventDefault();
      select(ws.classes[k - 1].id);
      // a suggestion in focus: its number is its class, and the next suggestion comes up
      if (accepting) suggest.accept();
    }
    if (suggest.count && (ev.key === "n" || ev.key === "N")) {
      ev.preventDefault();
      suggest.focusNext();
    }
    if (accepting && (ev.key === "a" || ev.key === "A" || ev.key === "Enter")) {
      ev.preventDefault();
      suggest.accept();
    }
  };
}
