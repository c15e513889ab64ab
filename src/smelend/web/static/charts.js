// Draws every <script type="application/json" data-chart="ID"> figure into the element with that id,
// using plotly.js served by the app (no CDN). Kept out of the pages so their CSP allows no inline script.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("script[data-chart]").forEach(function (block) {
    var target = document.getElementById(block.dataset.chart);
    if (!target || typeof Plotly === "undefined") { return; }
    var figure = JSON.parse(block.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, {responsive: true, displaylogo: false}).then(function () {
      target.setAttribute("data-drawn", "true");
    });
  });
});
