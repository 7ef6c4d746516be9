package collector

// routeTracker labels requests for the JS tracker, GET /t.js, served by
// internal/tracker. The script reports through the pixel route.
const routeTracker = "/t.js"
