// Shared behaviour for every page. Data comes from <script type="application/json"> blocks
// (Django's json_script), never from inline code: the CSP forbids inline scripts.
(function () {
  "use strict";

  function renderCharts(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.rendered) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      canvas.dataset.rendered = "1";
      var config = JSON.parse(source.textContent);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
      withPointNotes(config);
      canvas._chart = new Chart(canvas, config);
    });
  }

  // Server-built charts (flywheel/ui/charts.py rate_chart) may carry, per dataset, `pointNotes`
  // (a line under each point's tooltip: how many ratings, the interval) and `band: true` (an
  // interval's edge, kept out of the legend and the tooltip). JSON cannot hold the callbacks.
  function withPointNotes(config) {
    var datasets = (config.data && config.data.datasets) || [];
    if (!datasets.some(function (d) { return d.pointNotes || d.band; })) return;
    var plugins = config.options.plugins = config.options.plugins || {};
    plugins.legend = { labels: { filter: function (item, data) { return !data.datasets[item.datasetIndex].band; } } };
    plugins.tooltip = {
      filter: function (item) { return !item.dataset.band; },
      callbacks: {
        afterLabel: function (item) { return item.dataset.pointNotes ? item.dataset.pointNotes[item.dataIndex] || "" : ""; },
      },
    };
  }

  // Charts that follow a live source (a training run) ask for fresh data every few seconds.
  function refreshLiveCharts() {
    document.querySelectorAll("canvas[data-chart-url]").forEach(function (canvas) {
      if (!canvas._chart || canvas.dataset.live !== "1") return;
      fetch(canvas.dataset.chartUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (config) {
          if (!config) return;
          canvas._chart.data = config.data;
          canvas._chart.update("none");
          canvas.dataset.points = String(config.data.labels ? config.data.labels.length : 0);
          if (config.live === false) canvas.dataset.live = "0";
        })
        .catch(function () {});
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderCharts(document);
    setInterval(refreshLiveCharts, 2000);
  });
  document.addEventListener("htmx:afterSettle", function (event) { renderCharts(event.target); });

  // Choices that take effect at once: <select data-autosubmit> (the language switcher).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) target.form.requestSubmit();
  });

  // Forms that ask before they act: <form data-confirm="Really?">.
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset ? event.target.dataset.confirm : null;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
