// The prediction log dashboard: fetches /-/dashboard/data and draws it with Chart.js.
// The data route needs the token: on a 401 (or 403) the page asks for it, keeps it in
// sessionStorage (this tab only) and sends it as "Authorization: Token <token>".
"use strict";

(function () {
  const root = document.getElementById("dashboard");
  const dataUrl = root.dataset.url;
  const TOKEN_KEY = "firefly-token";
  const RANGES = [
    ["1h", "Last hour", 3600],
    ["6h", "Last 6 hours", 6 * 3600],
    ["24h", "Last 24 hours", 24 * 3600],
    ["7d", "Last 7 days", 7 * 86400],
    ["30d", "Last 30 days", 30 * 86400],
    ["all", "Everything", null],
  ];
  const LEVEL_COLORS = { stable: "--ok", moderate: "--warn", significant: "--bad" };
  const PSI_LINES = [[0.1, "--warn"], [0.25, "--bad"]];
  const pageParams = new URLSearchParams(window.location.search);
  const state = { data: null, selected: null, range: pageParams.get("range") || "24h" };
  const charts = [];

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // Numbers as a person reads them.
  const format = {
    count: (n) => (n === null ? "–" : n.toLocaleString("en-US")),
    percent: (x) => (x === null ? "–" : `${(x * 100).toFixed(x < 0.1 && x > 0 ? 2 : 1)}%`),
    ms: (x) => (x === null ? "–" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`),
    number: (x) => (x === null ? "–" : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3)),
  };

  function seriesKey(series) {
    return series.version === null ? series.function : `${series.function}@${series.version}`;
  }

  function seriesName(series) {
    return series.version === null ? series.function : `${series.function} · version ${series.version}`;
  }

  function bucketLabels(data) {
    return data.buckets.map((start) => {
      const date = new Date(start);
      if (data.interval >= 86400) return date.toISOString().slice(5, 10);
      const time = date.toISOString().slice(11, data.interval < 60 ? 19 : 16);
      return data.interval >= 3600 ? `${date.toISOString().slice(5, 10)} ${time}` : time;
    });
  }

  // --- the token -------------------------------------------------------------------

  function askToken(message) {
    return new Promise((resolve) => {
      const input = el("input", { type: "password", name: "token", autocomplete: "off", placeholder: "Token" });
      const overlay = el(
        "div",
        { class: "overlay", id: "token-dialog" },
        el(
          "form",
          {
            onsubmit: (event) => {
              event.preventDefault();
              sessionStorage.setItem(TOKEN_KEY, input.value.trim());
              overlay.remove();
              resolve();
            },
          },
          el("h2", {}, "Authorize"),
          el("p", {}, "The prediction log needs this server's token."),
          message ? el("p", { class: "error" }, message) : null,
          input,
          el("button", { type: "submit", class: "primary" }, "Show the dashboard"),
        ),
      );
      document.body.append(overlay);
      input.focus();
    });
  }

  async function fetchData() {
    const params = new URLSearchParams();
    for (const name of ["function", "version", "until", "reference"]) {
      if (pageParams.get(name)) params.set(name, pageParams.get(name));
    }
    const range = RANGES.find(([key]) => key === state.range);
    const seconds = range ? range[2] : 24 * 3600;
    params.set("since", pageParams.get("since") || new Date(seconds === null ? 0 : Date.now() - seconds * 1000).toISOString());
    for (;;) {
      const token = sessionStorage.getItem(TOKEN_KEY);
      const headers = token ? { Authorization: `Token ${token}` } : {};
      const response = await fetch(`${dataUrl}?${params}`, { headers });
      if (response.status === 401 || response.status === 403) {
        const body = await response.json().catch(() => ({}));
        sessionStorage.removeItem(TOKEN_KEY);
        await askToken(token ? body.error || "invalid token" : null);
        continue;
      }
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.error || `${response.status} ${response.statusText}`);
      }
      return response.json();
    }
  }

  // --- charts ----------------------------------------------------------------------

  // Dashed lines across a chart at the PSI thresholds.
  const thresholdLines = {
    id: "thresholds",
    afterDatasetsDraw(chart) {
      const scale = chart.scales.x;
      const { ctx, chartArea } = chart;
      if (!scale || chart.config.options.indexAxis !== "y") return;
      ctx.save();
      ctx.setLineDash([5, 4]);
      for (const [value, color] of PSI_LINES) {
        if (value > scale.max) continue;
        const x = scale.getPixelForValue(value);
        ctx.strokeStyle = css(color);
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
      }
      ctx.restore();
    },
  };

  function line(label, data, color, extra) {
    const pointRadius = data.length > 40 ? 1.5 : 3;
    return { label, data, borderColor: color, backgroundColor: `${color}22`, pointRadius, pointHoverRadius: 5, cubicInterpolationMode: "monotone", spanGaps: true, borderWidth: 2, ...extra };
  }

  function chartCard(id, title, hint, config, wide, height) {
    const canvas = el("canvas", { id: `chart-${id}`, role: "img", "aria-label": title });
    const card = el("section", { class: `chart${wide ? " wide" : ""}`, "data-chart": id }, el("h2", {}, title), el("p", { class: "hint" }, hint));
    if (config === null) {
      card.append(el("div", { class: "empty" }, "No data in this range"));
      return card;
    }
    card.append(el("div", { class: "canvas", style: height ? `height: ${height}px` : "" }, canvas));
    charts.push(new Chart(canvas, config));
    return card;
  }

  function timeChart(type, datasets, yTitle, yFormat, stacked, yMax) {
    return {
      type,
      data: { labels: bucketLabels(state.data), datasets },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12, usePointStyle: true } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.raw === null ? "–" : yFormat(item.raw)}` } },
        },
        scales: {
          x: { stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked, beginAtZero: true, max: yMax, title: { display: true, text: yTitle }, ticks: { callback: (value) => yFormat(value) } },
        },
      },
    };
  }

  function driftChart(features) {
    const scored = features.filter((feature) => feature.psi !== null);
    if (!scored.length) return null;
    const colors = scored.map((feature) => css(LEVEL_COLORS[feature.level]));
    return {
      type: "bar",
      data: {
        labels: scored.map((feature) => feature.name),
        datasets: [{ label: "PSI", data: scored.map((feature) => feature.psi), backgroundColor: colors, borderRadius: 4 }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `PSI ${item.raw.toFixed(3)} (${scored[item.dataIndex].level})` } },
        },
        scales: {
          x: { beginAtZero: true, suggestedMax: 0.3, title: { display: true, text: "population stability index" } },
          y: { grid: { display: false } },
        },
      },
      plugins: [thresholdLines],
    };
  }

  function driftTable(drift) {
    const rows = drift.features.map((feature) =>
      el(
        "tr",
        { "data-feature": feature.name },
        el("td", {}, feature.name),
        el("td", {}, feature.kind),
        el("td", {}, feature.psi === null ? "–" : feature.psi.toFixed(3)),
        el("td", {}, el("span", { class: `level ${feature.level || "none"}` }, feature.level || "not enough rows")),
        el("td", {}, `${format.count(feature.reference_count)} / ${format.count(feature.current_count)}`),
      ),
    );
    return el(
      "table",
      { class: "drift" },
      el("thead", {}, el("tr", {}, ...["Feature", "Kind", "PSI", "Level", "Values (reference / current)"].map((name) => el("th", {}, name)))),
      el("tbody", {}, ...rows),
    );
  }

  // --- the page --------------------------------------------------------------------

  function total(metric, label, value, detail, tone) {
    return el(
      "div",
      { class: `total${tone ? ` ${tone}` : ""}`, "data-metric": metric },
      el("div", { class: "label" }, label),
      el("div", { class: "value" }, value),
      detail ? el("div", { class: "detail" }, detail) : null,
    );
  }

  function totals(series) {
    const t = series.totals;
    const drifting = series.drift.features.filter((feature) => feature.level === "significant").length;
    const cards = [
      total("count", "Calls", format.count(t.count), `${state.data.interval}s buckets`),
      total("error_rate", "Error rate", format.percent(t.error_rate), `${format.count(t.errors)} errors`, t.errors ? "bad" : "good"),
      total("latency", "Latency p95", format.ms(t.latency_ms.p95), `p50 ${format.ms(t.latency_ms.p50)} · p99 ${format.ms(t.latency_ms.p99)}`),
      total("coverage", "Outcome coverage", format.percent(t.coverage), `${format.count(t.outcomes)} outcomes`),
    ];
    if (t.accuracy_count) cards.push(total("accuracy", "Accuracy", format.percent(t.accuracy), `${format.count(t.accuracy_count)} scored`));
    if (t.absolute_error_count) {
      cards.push(total("mean_absolute_error", "Mean absolute error", format.number(t.mean_absolute_error), `${format.count(t.absolute_error_count)} scored`));
    }
    cards.push(total("drift", "Drifting features", `${drifting} / ${series.drift.features.length}`, "PSI ≥ 0.25", drifting ? "bad" : "good"));
    return el("div", { class: "totals" }, ...cards);
  }

  function render() {
    while (charts.length) charts.pop().destroy();
    const data = state.data;
    const main = el("main");
    const header = el(
      "header",
      { class: "top" },
      el("h1", {}, "Prediction log ", el("span", {}, "dashboard")),
      el(
        "div",
        { class: "controls" },
        el("label", {}, "Function", seriesSelect(data)),
        el("label", {}, "Range", rangeSelect()),
        el("button", { type: "button", id: "refresh", onclick: load }, "Refresh"),
      ),
    );
    root.replaceChildren(header, main);
    if (data.truncated) {
      main.append(el("div", { class: "notice warning", id: "truncated" }, `The range holds more than ${format.count(data.max_rows)} calls: only the newest ${format.count(data.rows)} are shown.`));
    }
    const series = data.series.find((candidate) => seriesKey(candidate) === state.selected);
    if (!series) {
      main.append(el("div", { class: "notice", id: "empty" }, "No logged call in this range."));
      root.dataset.state = "ready";
      return;
    }
    main.append(totals(series));
    main.append(el("div", { class: "charts" }, ...seriesCharts(series)));
    main.append(el("div", { class: "notice" }, `${seriesName(series)}: ${data.since.replace("T", " ")} to ${data.until.replace("T", " ")} (UTC).`));
    root.dataset.state = "ready";
  }

  function seriesCharts(series) {
    const b = series.buckets;
    const ok = b.count.map((count, k) => count - b.errors[k]);
    const palette = { blue: css("--accent"), green: css("--ok"), amber: css("--warn"), red: css("--bad") };
    const cards = [
      chartCard("volume", "Volume", "Calls per bucket, errors stacked on top", timeChart("bar", [
        { label: "succeeded", data: ok, backgroundColor: palette.blue, borderRadius: 3 },
        { label: "errors", data: b.errors, backgroundColor: palette.red, borderRadius: 3 },
      ], "calls", format.count, true)),
      chartCard("latency", "Latency", "Percentiles of the call duration", timeChart("line", [
        line("p50", b.latency_ms.p50, palette.green),
        line("p95", b.latency_ms.p95, palette.amber),
        line("p99", b.latency_ms.p99, palette.red),
      ], "milliseconds", format.ms, false)),
      chartCard("errors", "Error rate", "Share of calls answered with status 400 or more", timeChart("line", [
        line("error rate", b.error_rate, palette.red, { fill: true }),
      ], "share of calls", format.percent, false)),
      chartCard("coverage", "Outcome coverage", "Share of calls whose outcome was received", timeChart("line", [
        line("coverage", b.coverage, palette.blue, { fill: true }),
      ], "share of calls", format.percent, false, 1)),
    ];
    if (series.totals.accuracy_count) {
      cards.push(chartCard("accuracy", "Accuracy", "Share of predictions equal to their outcome", timeChart("line", [
        line("accuracy", b.accuracy, palette.green, { fill: true }),
      ], "accuracy", format.percent, false, 1)));
    }
    if (series.totals.absolute_error_count) {
      cards.push(chartCard("mae", "Mean absolute error", "Mean of |prediction − outcome|", timeChart("line", [
        line("mean absolute error", b.mean_absolute_error, palette.amber, { fill: true }),
      ], "absolute error", format.number, false)));
    }
    if (!series.totals.accuracy_count && !series.totals.absolute_error_count) {
      cards.push(chartCard("accuracy", "Accuracy", "Send outcomes to POST /-/feedback to score the predictions", null));
    }
    const drift = series.drift;
    const until = drift.reference_until ? ` before ${drift.reference_until.replace("T", " ")}` : "";
    const card = chartCard("drift", "Input drift", `Each feature's calls${until} (reference) against the later ones; dashed lines at 0.1 and 0.25`, driftChart(drift.features), true, 60 + 34 * drift.features.length);
    if (drift.features.length) card.append(driftTable(drift));
    cards.push(card);
    return cards;
  }

  function seriesSelect(data) {
    const select = el("select", { id: "series", onchange: () => { state.selected = select.value; render(); } });
    for (const series of data.series) {
      const option = el("option", { value: seriesKey(series) }, `${seriesName(series)} (${format.count(series.totals.count)})`);
      option.selected = seriesKey(series) === state.selected;
      select.append(option);
    }
    return select;
  }

  function rangeSelect() {
    const select = el("select", { id: "range", onchange: () => { state.range = select.value; load(); } });
    for (const [key, label] of RANGES) {
      const option = el("option", { value: key }, label);
      option.selected = key === state.range;
      select.append(option);
    }
    return select;
  }

  async function load() {
    root.dataset.state = "loading";
    try {
      state.data = await fetchData();
    } catch (error) {
      root.replaceChildren(el("main", {}, el("div", { class: "notice warning", id: "error" }, `Cannot read the prediction log: ${error.message}`)));
      root.dataset.state = "error";
      return;
    }
    const keys = state.data.series.map(seriesKey);
    if (!keys.includes(state.selected)) state.selected = keys[0] || null;
    render();
  }

  Chart.defaults.animation = false; // the charts are redrawn on each refresh: no need to move
  Chart.defaults.color = css("--muted");
  Chart.defaults.borderColor = css("--line");
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  load();
})();
