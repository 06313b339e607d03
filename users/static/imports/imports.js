/*
 * The import page's behaviour: pick a file, validate it as a dry-run job, show the preview,
 * commit, follow the progress, cancel, show the summary. Every step is a call to the job API
 * with the session cookie and the CSRF token; the page keeps no state the server doesn't have,
 * so reloading or coming back later shows the same job.
 *
 * Plain script, no build step and no libraries: it has to work on a closed network.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("import-config").textContent);
  var ACTIVE = ["QUEUED", "VALIDATING", "RUNNING"];
  var numberFormat = new Intl.NumberFormat("en-GB");

  var state = {
    jobId: config.jobId,
    job: null,
    pollToken: 0,
    committed: false,
    cancelling: false,
    queuedSince: null,
  };

  // ---- small helpers -------------------------------------------------------------------------

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  function $$(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function url(name, id) {
    return config.urls[name].replace("{id}", encodeURIComponent(id || ""));
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      window.setTimeout(resolve, ms);
    });
  }

  function num(value) {
    var n = Number(value);
    return Number.isFinite(n) ? n : 0;
  }

  function formatNumber(value) {
    return numberFormat.format(Math.round(num(value)));
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
    var s = Math.max(0, Math.round(Number(seconds)));
    if (s < 60) return s + " s";
    var minutes = Math.floor(s / 60);
    if (minutes < 60) return minutes + " min " + (s % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function plural(n, one, many) {
    return formatNumber(n) + " " + (Math.round(n) === 1 ? one : many);
  }

  // ---- talking to the API --------------------------------------------------------------------

  function Problem(message, details) {
    this.message = message;
    this.status = (details && details.status) || 0;
    this.code = (details && details.code) || "";
    this.network = Boolean(details && details.network);
  }

  function messageFor(status, data) {
    if (data && typeof data.message === "string" && data.message) return data.message;
    if (status === 401) return "Your session has ended. Sign in again, then retry.";
    if (status === 403) return "Your account isn't allowed to do this. Ask an administrator for the import permission.";
    if (status === 404) return "This import can't be found. It may have been removed.";
    if (status === 413) {
      return "The file is larger than the " + formatBytes(config.maxUploadBytes) + " limit. Split it into smaller files.";
    }
    if (status >= 500) return "The server ran into a problem (error " + status + "). Wait a minute, then try again.";
    return "The request was refused (error " + status + "). Reload the page and try again.";
  }

  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": config.csrfToken },
    };
    if (body) options.body = body;
    return fetch(path, options).then(
      function (response) {
        var isJson = (response.headers.get("content-type") || "").indexOf("json") !== -1;
        var parsed = isJson ? response.json().catch(function () { return null; }) : Promise.resolve(null);
        return parsed.then(function (data) {
          if (!response.ok) throw new Problem(messageFor(response.status, data), { status: response.status, code: data && data.code });
          return data;
        });
      },
      function () {
        throw new Problem("The server can't be reached. Check your connection, then try again.", { network: true });
      }
    );
  }

  // ---- what the job's JSON says --------------------------------------------------------------

  function count(job, names) {
    for (var i = 0; i < names.length; i++) {
      var value = job[names[i]];
      if (value !== undefined && value !== null) return num(value);
    }
    return 0;
  }

  function counts(job) {
    // The engine's accounting (users/imports/pipeline.py): after validation total = valid + skipped + failed,
    // where valid rows will be created or updated, skipped ones match an existing customer, and failed ones
    // are invalid or repeat an earlier row of the file.
    var failed = count(job, ["failed_count"]);
    var duplicates = count(job, ["duplicates_in_file"]);
    var sms = job.sms || {};
    return {
      rows: count(job, ["total_rows"]),
      valid: count(job, ["valid_rows"]),
      invalid: Math.max(0, failed - duplicates),
      duplicates: duplicates,
      existing: count(job, ["existing_matches"]),
      processed: count(job, ["processed_rows"]),
      created: count(job, ["created_count"]),
      updated: count(job, ["updated_count"]),
      skipped: count(job, ["skipped_count"]),
      failed: failed,
      sms_sent: num(sms.sent),
      sms_failed: num(sms.failed),
      sms_pending: num(sms.pending),
      sms_refused: num(sms.refused),
      sms_refused_country: num(sms.refused_country),
      sms_refused_daily_limit: num(sms.refused_daily_limit),
    };
  }

  function importable(job, c) {
    // valid_rows already follows the duplicate policy: rows that will create or update a customer.
    return c.valid;
  }

  function firstErrors(job) {
    return job.first_errors || [];
  }

  // The API decides who may do what (users/api/permissions.py); the page only avoids offering what it would refuse.
  function mine(job) {
    return job.created_by !== null && job.created_by !== undefined && job.created_by === config.userId;
  }

  function mayCommit(job) {
    return mine(job);
  }

  function mayCancel(job) {
    return mine(job) || Boolean(config.mayCancelAny);
  }

  function mayDownloadErrors(job) {
    return mine(job) || Boolean(config.canViewCustomers);
  }

  // ---- what the page shows -------------------------------------------------------------------

  var STEP_OF_SECTION = { upload: "upload", validating: "check", preview: "check", progress: "import", done: "done" };

  function show(name) {
    $$("main section[id^='step-']").forEach(function (section) {
      section.hidden = section.id !== "step-" + name;
    });
    var step = STEP_OF_SECTION[name];
    var reached = true;
    $$(".steps li").forEach(function (li) {
      var current = li.getAttribute("data-step") === step;
      if (current) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
      li.classList.toggle("done", reached && !current);
      if (current) reached = false;
    });
  }

  function showAlert(message) {
    var alert = $("#alert");
    $("#alert-message").textContent = message;
    alert.hidden = false;
    alert.focus();
  }

  function clearAlert() {
    $("#alert").hidden = true;
  }

  function setConnection(ok) {
    $("#connection").hidden = ok;
  }

  function setText(section, field, text) {
    $$("[data-field='" + field + "']", section).forEach(function (el) {
      el.textContent = text;
    });
  }

  function setCounts(section, c) {
    $$("[data-count]", section).forEach(function (el) {
      el.textContent = formatNumber(c[el.getAttribute("data-count")]);
    });
  }

  function setLinks(section, id) {
    $$("[data-link]", section).forEach(function (a) {
      a.setAttribute("href", url(a.getAttribute("data-link"), id));
    });
  }

  function setProgress(section, percent) {
    var value = Math.max(0, Math.min(100, Math.round(num(percent))));
    var bar = $("[role='progressbar']", section);
    bar.setAttribute("aria-valuenow", String(value));
    bar.setAttribute("aria-valuetext", value + "%");
    $(".progress-fill", bar).style.width = value + "%";
    return value;
  }

  function quoted(job) {
    return "“" + (job.original_filename || "the file") + "”";
  }

  function renderValidating(job) {
    var section = $("#step-validating");
    setText(section, "filename", quoted(job));
    var c = counts(job);
    setProgress(section, job.progress_percent);
    setText(
      section,
      "validating-status",
      job.status === "QUEUED" ? waitingText("file") : "Checked " + plural(c.processed, "row", "rows") + " so far…"
    );
    show("validating");
  }

  function renderPreview(job) {
    var section = $("#step-preview");
    var c = counts(job);
    var n = importable(job, c);
    setText(section, "filename", quoted(job));
    setCounts(section, c);
    setLinks(section, job.id);
    setText(section, "existing-note", c.existing ? (job.on_duplicate === "update" ? "will be updated" : "will be skipped") : "");

    var summary;
    if (n === 0) {
      summary = "No row can be imported as it is. Download the rejected rows, fix them and upload the file again.";
    } else if (c.rows - n > 0) {
      summary = plural(n, "customer is", "customers are") + " ready to import. " +
        plural(c.rows - n, "row", "rows") + " will be left out: download them, fix them and upload them again afterwards.";
    } else {
      summary = "Every row is valid: " + plural(n, "customer is", "customers are") + " ready to import.";
    }
    setText(section, "preview-summary", summary);

    var unknown = job.unknown_columns || [];
    var unknownNote = $("[data-field='unknown-columns']", section);
    unknownNote.hidden = unknown.length === 0;
    unknownNote.textContent = unknown.length ? "These columns are not part of the template and will be ignored: " + unknown.join(", ") + "." : "";

    var errors = firstErrors(job);
    var rejected = c.failed + c.skipped;
    $("#preview-errors").hidden = errors.length === 0;
    $$("[data-link='errorsXlsx'], [data-link='errorsCsv']", section).forEach(function (el) {
      el.hidden = !mayDownloadErrors(job);
    });
    renderErrorRows($("[data-field='errors-body']", section), errors);
    setText(
      section,
      "errors-note",
      errors.length < rejected
        ? "The first " + formatNumber(errors.length) + " of " + formatNumber(rejected) + " are shown. The download has all of them, with the reason in the last column."
        : "The download lists them in the template's layout, with the reason in the last column."
    );

    var button = $("#commit-button");
    button.textContent = "Import " + plural(n, "customer", "customers");
    button.disabled = n === 0 || state.committed;
    button.hidden = !mayCommit(job);
    var commitNote = $("[data-field='commit-note']", section);
    commitNote.hidden = mayCommit(job);
    commitNote.textContent = mayCommit(job) ? "" : "Only the person who uploaded this file can import it.";
    show("preview");
  }

  function renderErrorRows(tbody, errors) {
    // textContent only: the values come from someone's spreadsheet.
    tbody.textContent = "";
    errors.forEach(function (error) {
      var tr = document.createElement("tr");
      [error.row_number, error.column || "—", error.value === "" || error.value === undefined ? "(empty)" : error.value, error.reason].forEach(
        function (value, i) {
          var cell = document.createElement(i === 0 ? "th" : "td");
          if (i === 0) cell.setAttribute("scope", "row");
          if (i === 2) cell.className = "value";
          cell.textContent = value === null || value === undefined ? "" : String(value);
          tr.appendChild(cell);
        }
      );
      tbody.appendChild(tr);
    });
  }

  function renderProgress(job) {
    var section = $("#step-progress");
    var c = counts(job);
    setText(section, "filename", quoted(job));
    var percent = setProgress(section, job.progress_percent);
    setText(section, "percent", percent + "%");
    setText(section, "processed", formatNumber(c.processed));
    setText(section, "total", formatNumber(c.rows));
    setCounts(section, c);
    $$("[data-show='update']", section).forEach(function (el) {
      el.hidden = job.on_duplicate !== "update";
    });
    var running = job.status === "RUNNING";
    setText(section, "rate", running && num(job.rows_per_second) > 0 ? formatNumber(job.rows_per_second) : "—");
    setText(section, "eta", running && job.eta_seconds !== null && job.eta_seconds !== undefined ? "about " + formatDuration(job.eta_seconds) : job.status === "QUEUED" ? "Starting…" : "—");
    var waiting = $("[data-field='waiting']", section);
    waiting.hidden = job.status !== "QUEUED";
    waiting.textContent = job.status === "QUEUED" ? waitingText("import") : "";
    // Announce every tenth for screen readers rather than every poll.
    setText(section, "progress-announce", Math.floor(percent / 10) * 10 + "% imported");
    var cancel = $("#cancel-button");
    var cancelling = state.cancelling || Boolean(job.cancel_requested);
    cancel.disabled = cancelling;
    cancel.textContent = cancelling ? "Cancelling…" : "Cancel import";
    cancel.hidden = !mayCancel(job);
    show("progress");
  }

  function renderDone(job) {
    var section = $("#step-done");
    var c = counts(job);
    setCounts(section, c);
    setLinks(section, job.id);

    // The bar stays where the import ended: full when complete, part-way when cancelled or stopped.
    setProgress(section, job.progress_percent);
    $(".progress", section).classList.toggle("ended", job.status !== "COMPLETE");

    var title, message, tone;
    if (job.status === "COMPLETE") {
      tone = c.failed ? "warn" : "good";
      title = "Import complete";
      message = plural(c.created, "customer was", "customers were") + " created from " + quoted(job) + ".";
      if (c.failed) message += " " + plural(c.failed, "row", "rows") + " could not be imported: the error report lists them with the reason.";
    } else if (job.status === "CANCELLED") {
      tone = "warn";
      title = "Import cancelled";
      message = "The import of " + quoted(job) + " was stopped. The " + plural(c.created + c.updated, "customer", "customers") +
        " saved before it stopped are kept.";
    } else {
      tone = "bad";
      title = "The import stopped";
      message = (job.error_message || "Something went wrong while importing " + quoted(job) + ".") +
        (c.created ? " " + plural(c.created, "customer was", "customers were") + " saved before it stopped." : "");
    }
    var result = $("[data-field='result']", section);
    result.setAttribute("data-tone", tone);
    result.setAttribute("data-icon", job.status === "COMPLETE" ? "check" : job.status === "CANCELLED" ? "stop" : "cross");
    setText(section, "done-title", title);
    setText(section, "done-message", message);
    setText(section, "duration", formatDuration(duration(job)));

    $$("[data-show='customers']", section).forEach(function (el) {
      el.hidden = c.created + c.updated === 0 || !config.canViewCustomers;
    });
    var hasErrors = c.failed + c.skipped > 0;
    $$("[data-show='errors']", section).forEach(function (el) {
      el.hidden = !hasErrors || !mayDownloadErrors(job);
    });
    var sms = job.sms;
    var smsShown = Boolean(job.send_sms && sms && !sms.disabled);
    $$("[data-show='sms']", section).forEach(function (el) {
      el.hidden = !smsShown;
    });
    $$("[data-show='sms-refused']", section).forEach(function (el) {
      el.hidden = !(smsShown && c.sms_refused > 0);
    });
    var smsNote = $("[data-field='sms-note']", section);
    var smsText = "";
    if (job.send_sms && sms && sms.disabled) smsText = "Text messages are switched off on this server, so no welcome texts were sent.";
    else if (smsShown) {
      if (c.sms_pending > 0) smsText = plural(c.sms_pending, "welcome text is", "welcome texts are") + " still on the way.";
      smsText = [smsText, refusedText(c)].filter(Boolean).join(" ");
    }
    smsNote.hidden = !smsText;
    smsNote.textContent = smsText;
    show("done");
  }

  function refusedText(c) {
    // Texts the server refused to send (users/sms/limits.py), with why: they are counted, never dropped silently.
    var reasons = [];
    if (c.sms_refused_country > 0) {
      reasons.push(formatNumber(c.sms_refused_country) + " to numbers outside the countries welcome texts may go to");
    }
    if (c.sms_refused_daily_limit > 0) {
      reasons.push(formatNumber(c.sms_refused_daily_limit) + " because the day's limit of texts was reached");
    }
    if (!reasons.length) return "";
    return plural(c.sms_refused, "welcome text was", "welcome texts were") + " not sent: " + reasons.join("; ") + ".";
  }

  function duration(job) {
    if (job.duration_seconds !== undefined && job.duration_seconds !== null) return job.duration_seconds;
    if (!job.started_at || !job.finished_at) return null;
    return (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
  }

  function isWriting(job) {
    // Committing a dry run clears its dry_run flag (import_job_commit), so a queued dry run is still to be checked.
    return !job.dry_run || state.committed;
  }

  // A queued job normally starts within a second or two; if it doesn't, say why it might not.
  var SLOW_START_MS = 20000;

  function waitingText(what) {
    var waited = state.queuedSince ? Date.now() - state.queuedSince : 0;
    if (waited < SLOW_START_MS) return "Waiting for the worker to pick up the " + what + "…";
    return "Still waiting for the background worker. It may be busy with another import, or not running: " +
      "the " + what + " is safe and will be picked up when it runs. If this lasts, tell your administrator " +
      "that the task worker (python manage.py run_worker; make run starts it) needs starting.";
  }

  function render(job) {
    state.job = job;
    if (job.status !== "QUEUED") state.queuedSince = null;
    else if (!state.queuedSince) state.queuedSince = Date.now();
    var status = job.status;
    if (status === "VALIDATED") return renderPreview(job);
    if (status === "VALIDATING" || (status === "QUEUED" && !isWriting(job))) return renderValidating(job);
    if (status === "QUEUED" || status === "RUNNING") return renderProgress(job);
    if (status === "FAILED" && num(job.processed_rows) === 0 && num(job.created_count) === 0) {
      // The file itself was refused: say why, and let the admin pick a fixed file.
      restart();
      showAlert("“" + (job.original_filename || "The file") + "” can't be imported. " + (job.error_message || "The file could not be read."));
      return;
    }
    renderDone(job);
  }

  // ---- following a job -----------------------------------------------------------------------

  // The worker queues one text per created customer just after marking the import complete, so for a moment
  // a finished import can show no texts at all: wait for them to be counted (for a minute at most), then for
  // those on their way.
  var TEXTS_QUEUED_WITHIN_MS = 60000;

  function textsStillComing(job) {
    var sms = job.sms;
    if (!job.send_sms || !sms || sms.disabled) return false;
    if (num(sms.pending) > 0) return true;
    var sinceFinished = job.finished_at ? Date.now() - Date.parse(job.finished_at) : 0;
    return num(sms.total) < num(job.created_count) && sinceFinished < TEXTS_QUEUED_WITHIN_MS;
  }

  function follow() {
    var token = ++state.pollToken;
    var delay = config.pollMs;
    function tick() {
      if (token !== state.pollToken) return null;
      return api("GET", url("job", state.jobId)).then(
        function (job) {
          if (token !== state.pollToken) return null;
          setConnection(true);
          delay = config.pollMs;
          render(job);
          if (ACTIVE.indexOf(job.status) !== -1) return sleep(delay).then(tick);
          // Welcome texts go out after the import ends: keep the counts fresh until they have.
          if (textsStillComing(job)) return sleep(delay * 2).then(tick);
          return null;
        },
        function (problem) {
          if (token !== state.pollToken) return null;
          if (problem.network || problem.status >= 500) {
            // A restart or a dropped connection: keep trying, more slowly, and say so.
            setConnection(false);
            delay = Math.min(delay * 2, 10000);
            return sleep(delay).then(tick);
          }
          restart();
          showAlert(problem.message);
          return null;
        }
      );
    }
    return tick();
  }

  function restart() {
    state.pollToken++;
    state.jobId = null;
    state.job = null;
    state.committed = false;
    state.cancelling = false;
    setConnection(true);
    if (window.location.pathname !== config.urls.start) window.history.replaceState(null, "", config.urls.start);
    show("upload");
    setBusy(false);
  }

  // ---- the upload form -----------------------------------------------------------------------

  var form = $("#upload-form");
  var input = $("#file-input");
  var dropzone = $("#dropzone");

  function setBusy(busy) {
    var button = $("#validate-button");
    button.disabled = busy;
    button.textContent = busy ? "Uploading…" : "Validate";
  }

  function describeChosenFile() {
    var file = input.files && input.files[0];
    $("#file-chosen").textContent = file ? "Selected: " + file.name + " (" + formatBytes(file.size) + ")" : "";
    dropzone.classList.toggle("has-file", Boolean(file));
  }

  function checkFile(file) {
    if (!file) return "Choose a spreadsheet first: drop it on the box, or use the file button.";
    var name = file.name.toLowerCase();
    var known = config.acceptedExtensions.some(function (ext) {
      return name.slice(-ext.length) === ext;
    });
    if (!known) {
      return "“" + file.name + "” is not a spreadsheet this page can read. Save it as Excel (.xlsx or .xls), OpenDocument (.ods) or CSV and try again.";
    }
    if (file.size === 0) return "“" + file.name + "” is empty. Choose the file that has the customers in it.";
    if (file.size > config.maxUploadBytes) {
      return "“" + file.name + "” is " + formatBytes(file.size) + "; the largest file accepted is " +
        formatBytes(config.maxUploadBytes) + ". Split it into smaller files.";
    }
    return null;
  }

  input.addEventListener("change", function () {
    clearAlert();
    describeChosenFile();
  });

  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  });
  ["dragleave", "dragend", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function () {
      dropzone.classList.remove("dragging");
    });
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || files.length === 0) return;
    if (files.length > 1) {
      showAlert("Drop one spreadsheet at a time.");
      return;
    }
    input.files = files;
    clearAlert();
    describeChosenFile();
  });
  // A file dropped beside the box shouldn't make the browser leave the page to open it.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearAlert();
    var file = input.files && input.files[0];
    var problem = checkFile(file);
    if (problem) {
      showAlert(problem);
      return;
    }
    var body = new FormData();
    body.append("file", file, file.name);
    body.append("on_duplicate", form.elements.on_duplicate.value);
    body.append("dry_run", "true");
    // Without the permission to send texts the page has no checkbox: ask for none.
    var sendSms = form.elements.send_sms;
    body.append("send_sms", sendSms && sendSms.checked ? "true" : "false");
    setBusy(true);
    api("POST", config.urls.create, body).then(
      function (job) {
        setBusy(false);
        state.jobId = job.id;
        state.committed = false;
        window.history.replaceState(null, "", url("page", job.id));
        render(job);
        return follow();
      },
      function (problem) {
        setBusy(false);
        showAlert(problem.message);
      }
    );
  });

  // ---- the buttons after upload --------------------------------------------------------------

  $("#commit-button").addEventListener("click", function () {
    var button = this;
    button.disabled = true;
    clearAlert();
    api("POST", url("commit", state.jobId)).then(
      function (job) {
        state.committed = true;
        if (job && job.status) render(job);
        return follow();
      },
      function (problem) {
        button.disabled = false;
        showAlert(problem.message);
      }
    );
  });

  $("#cancel-button").addEventListener("click", function () {
    var button = this;
    state.cancelling = true;
    button.disabled = true;
    button.textContent = "Cancelling…";
    api("POST", url("cancel", state.jobId)).then(
      function (job) {
        if (job && job.status) render(job);
      },
      function (problem) {
        state.cancelling = false;
        button.disabled = false;
        button.textContent = "Cancel import";
        showAlert(problem.message);
      }
    );
  });

  $$("[data-action='restart']").forEach(function (button) {
    button.addEventListener("click", function () {
      clearAlert();
      restart();
      form.reset();
      describeChosenFile();
      input.focus();
    });
  });

  // ---- start ---------------------------------------------------------------------------------

  if (state.jobId) {
    window.history.replaceState(null, "", url("page", state.jobId));
    follow();
  } else {
    show("upload");
  }
})();
