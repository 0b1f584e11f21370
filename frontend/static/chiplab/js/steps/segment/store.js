// The Segment step's state, in one place: every part of the step reads and writes it here.

/** A fresh store for one mounted Segment step. */
export function createStore() {
  return {
    disposed: false, // the step was left: late answers are dropped
    job: {
      current: null, // the job being followed while it is queued or running
      following: false, // a job is being followed: Segment waits for it
    },
    support: {
      rule: "single_owner", // which support set: my chips, or a lab consensus
      minVotes: 2, // the majority rule's minimum
      ok: false, // the chosen support set can be segmented
      matched: null, // the support set the selector was last matched to
      seq: 0, // the latest description asked for (older answers are dropped)
    },
    model: { shown: null }, // the model version of the result shown (the selector follows it)
    shown: {
      result: null, // the result shown
      job: null, // its job, when known
      seq: 0, // the latest result asked for
    },
    frames: {
      results: [], // this image's results of the shown job, by frame (time series only)
      jobId: null, // the job those are of
      ui: null, // {job, slider, number, note, rows} while built for one job's frames
    },
    view: {
      mode: "classes", // overlay view: classes | chips | confidence | chip-confidence | off
      opacity: 0.55,
      overlays: {}, // mode -> promise of the viewer's overlay source (made once per result)
      flags: [], // chips drawn for examples the model disagrees with (the support check)
    },
    correct: {
      on: false, // Correct mode: a click on the map makes the chip an example (corrections.js)
      mine: new Map(), // "r,c" -> class id: my examples on gridId
      gridId: null,
      made: [], // corrections of the shown result: {key, row, col, from, to}
      resultId: null, // the result they correct
      clickAt: null, // performance.now() of the latest correction (click → overlay time)
      took: null, // the latest re-run's times in ms: {rerun, correct} (R key / correction → new map)
    },
  };
}
