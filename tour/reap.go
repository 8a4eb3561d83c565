package main

// markerEnv is set in the environment of every process the tour launches,
// to the sandbox it belongs to. The processes those start inherit it; that
// is how the tour finds, when it stops a step, every process the step
// left, however far it has wandered from its launcher (internal/reaper).
const markerEnv = "TOUR_SANDBOX"
