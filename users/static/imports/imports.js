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
    rows: null, // the page of rows to correct on the Check step
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
    this.data = (details && details.data) || null;
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
    if (body instanceof FormData) options.body = body;
    else if (body) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    return fetch(path, options).then(
      function (response) {
        var isJson = (response.headers.get("content-type") || "").indexOf("json") !== -1;
        var parsed = isJson ? response.json().catch(function () { return null; }) : Promise.resolve(null);
        return parsed.then(function (data) {
          if (!response.ok) {
            throw new Problem(messageFor(response.status, data), { status: response.status, code: data && data.code, data: data });
          }
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
    var choosing = needsColumns(job);
    setText(section, "filename", quoted(job));
    setText(section, "preview-verb", choosing ? "needs its columns chosen" : "is checked");
    setLinks(section, job.id);
    $$("[data-show='checked']", section).forEach(function (el) {
      el.hidden = choosing;
    });
    renderPreviewCounts(job);
    renderColumns(job);
    renderAudit(job);
    $$("[data-link='errorsXlsx'], [data-link='errorsCsv']", section).forEach(function (el) {
      el.hidden = !mayDownloadErrors(job);
    });
    var c = counts(job);
    var rejected = c.failed + c.skipped;
    if (choosing || rejected === 0) {
      $("#preview-errors").hidden = true;
      state.rows = null;
    } else if (!state.rows || state.rows.jobId !== job.id || state.rows.checkedAt !== job.started_at) {
      // Loaded once per check of the file; saving a row updates it in place, so focus stays where it is.
      loadRows(job, 1);
    }
    show("preview");
  }

  function renderPreviewCounts(job) {
    var section = $("#step-preview");
    var c = counts(job);
    var n = importable(job, c);
    setCounts(section, c);
    setText(section, "existing-note", c.existing ? (job.on_duplicate === "update" ? "will be updated" : "will be skipped") : "");

    var fixHere = mayCommit(job) ? "correct them below, or download them to fix in Excel and upload again." :
      "download them, fix them and upload them again afterwards.";
    var summary;
    if (needsColumns(job)) {
      summary = "The sheet has no column for " + andList(job.missing_fields.map(fieldLabel)) +
        ". Choose which column holds " + (job.missing_fields.length === 1 ? "it" : "them") + " below, then check the file again.";
    } else if (n === 0) {
      summary = "No row can be imported as it is: " + fixHere;
    } else if (c.rows - n > 0) {
      summary = plural(n, "customer is", "customers are") + " ready to import. " +
        plural(c.rows - n, "row", "rows") + " will be left out: " + fixHere;
    } else {
      summary = "Every row is valid: " + plural(n, "customer is", "customers are") + " ready to import.";
    }
    setText(section, "preview-summary", summary);
    var rejected = c.failed + c.skipped;
    setText(
      section,
      "errors-note",
      plural(rejected, "row was", "rows were") + " left out. " + (mayCommit(job)
        ? "A corrected row is checked at once, and imported with the rest; the file itself is not changed."
        : "The download lists them in the template's layout, with the reason in the last column.")
    );

    var button = $("#commit-button");
    button.textContent = "Import " + plural(n, "customer", "customers");
    button.disabled = n === 0 || state.committed;
    button.hidden = !mayCommit(job) || needsColumns(job);
    var commitNote = $("[data-field='commit-note']", section);
    commitNote.hidden = mayCommit(job);
    commitNote.textContent = mayCommit(job) ? "" : "Only the person who uploaded this file can import it.";
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
    renderUndo(job, section);
    show("done");
    if (config.openUndo && !state.undoOffered && !$("#undo-button").hidden) {
      // Came from "Undo this import" in the history: ask at once.
      state.undoOffered = true;
      askToUndo();
    }
  }

  // ---- undoing an import -----------------------------------------------------------------------
  //
  // The confirmation says what the undo will do, from GET undo/ (users/api/imports.py); the undo is a job of its
  // own, shown on the import's summary while it runs and after: who undid it, when, and what it did.

  function undoRunning(job) {
    return Boolean(job.undo && ACTIVE.indexOf(job.undo.status) !== -1);
  }

  function mayUndo(job) {
    if (!config.canUndo || !job.is_finished || job.dry_run) return false;
    if (num(job.created_count) + num(job.updated_count) === 0) return false;
    return !job.undo || job.undo.status === "CANCELLED" || job.undo.status === "FAILED";
  }

  function keptText(undo) {
    var parts = [];
    if (undo.kept_changed_since > 0) {
      parts.push(plural(undo.kept_changed_since, "customer was", "customers were") + " kept because they changed since the import");
    }
    if (undo.kept_referenced > 0) {
      parts.push(plural(undo.kept_referenced, "customer was", "customers were") + " kept because other records refer to them");
    }
    return parts.length ? " " + parts.join("; ") + "." : "";
  }

  function renderUndo(job, section) {
    var undo = job.undo;
    var box = $("[data-show='undo-state']", section);
    var button = $("#undo-button");
    button.hidden = !mayUndo(job);
    button.disabled = false;
    button.textContent = undo ? "Finish undoing" : "Undo this import";
    if (!undo) {
      box.hidden = true;
      return;
    }
    var who = undo.undone_by_name || "someone";
    var stop = $("#undo-stop");
    // Cancelling an undo is the API's cancel of the undo's own job: whoever asked for it, or a superuser.
    stop.hidden = !(ACTIVE.indexOf(undo.status) !== -1 && !undo.cancel_requested &&
      (undo.undone_by === config.userId || config.mayCancelAny));
    var text;
    if (ACTIVE.indexOf(undo.status) !== -1) {
      text = "Undoing this import (asked by " + who + "): " + formatNumber(undo.processed) + " of " +
        formatNumber(undo.total) + " customers done (" + Math.round(num(undo.progress_percent)) + "%).";
    } else if (undo.status === "COMPLETE") {
      text = "Undone by " + who + " on " + formatWhen(undo.finished_at) + ": " +
        plural(undo.deleted, "customer", "customers") + " deleted, " + plural(undo.restored, "customer", "customers") +
        " given back their values from before the import." + keptText(undo);
      setText(section, "done-title", "Import undone");
    } else if (undo.status === "CANCELLED") {
      text = "The undo asked by " + who + " was stopped; what it undid stays undone (" +
        plural(undo.deleted, "customer", "customers") + " deleted, " + formatNumber(undo.restored) + " restored)." +
        keptText(undo);
    } else {
      text = "The undo asked by " + who + " stopped: " + (undo.error_message || "an error on the server") +
        " What it undid stays undone.";
    }
    setText(section, "undo-state", text);
    box.hidden = false;
  }

  function askToUndo() {
    var button = $("#undo-button");
    button.disabled = true;
    clearAlert();
    api("GET", url("undo", state.jobId)).then(
      function (preview) {
        button.disabled = false;
        if (!preview.allowed) {
          showAlert(preview.message);
          return;
        }
        var dialog = $("#undo-dialog");
        var job = state.job || {};
        setText(dialog, "undo-what", plural(preview.to_delete, "customer", "customers") + " created by " + quoted(job) +
          " will be deleted, and " + plural(preview.to_restore, "customer", "customers") +
          " it updated will get back their values from before the import.");
        var kept = $("[data-field='undo-kept']", dialog);
        kept.textContent = preview.changed_since > 0
          ? plural(preview.changed_since, "customer has", "customers have") + " changed since the import and will be kept."
          : "";
        kept.hidden = !kept.textContent;
        var texts = $("[data-field='undo-texts']", dialog);
        texts.textContent = preview.texts_sent > 0
          ? plural(preview.texts_sent, "welcome text has", "welcome texts have") + " already gone out; they can't be unsent."
          : "";
        texts.hidden = !texts.textContent;
        dialog.returnValue = "";
        dialog.showModal();
      },
      function (problem) {
        button.disabled = false;
        showAlert(problem.message);
      }
    );
  }

  $("#undo-button").addEventListener("click", askToUndo);

  $("#undo-stop").addEventListener("click", function () {
    var button = this;
    var undo = state.job && state.job.undo;
    if (!undo) return;
    button.disabled = true;
    api("POST", url("cancel", undo.id)).then(
      function () {
        button.disabled = false;
        button.hidden = true;
      },
      function (problem) {
        button.disabled = false;
        showAlert(problem.message);
      }
    );
  });

  $("#undo-dialog").addEventListener("close", function () {
    if (this.returnValue !== "undo") return;
    var button = $("#undo-button");
    button.disabled = true;
    api("POST", url("undo", state.jobId)).then(
      function () {
        return follow();
      },
      function (problem) {
        button.disabled = false;
        showAlert(problem.message);
      }
    );
  });

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
    if (job.undoes) {
      // An undo's own id: its import's page shows it.
      state.jobId = job.undoes;
      window.history.replaceState(null, "", url("page", job.undoes));
      follow();
      return;
    }
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

  // ---- the Check step: choosing columns, correcting rows ------------------------------------------
  //
  // A dry run whose sheet lacks a required column waits here with its columns (job.missing_fields);
  // choosing them PATCHes the job, which checks the file again. Rejected rows are paged from the API and
  // edited in place: saving a row PATCHes it, the answer says at once whether it will be imported, and the
  // counts above follow. The page only draws what the API answers (users/api/corrections.py).

  var FIELDS = [
    ["shipping_mark", "Shipping Mark"],
    ["full_name", "Name (first and last)"],
    ["first_name", "First Name"],
    ["last_name", "Last Name"],
    ["email", "Email"],
    ["phone", "Phone Number"],
    ["region", "Region"],
  ];
  var FIELD_LABEL = { full_name: "Name" };
  FIELDS.forEach(function (pair) {
    if (!FIELD_LABEL[pair[0]]) FIELD_LABEL[pair[0]] = pair[1];
  });
  var MATCHED = {
    exact: "its own name",
    synonym: "a usual name for it",
    remembered: "as confirmed before for these headers",
    chosen: "chosen here",
  };
  var LOOKS_LIKE = {
    shipping_mark: "shipping marks",
    full_name: "people's names",
    first_name: "first names",
    last_name: "last names",
    email: "email addresses",
    phone: "phone numbers",
    region: "regions",
  };
  var ROWS_PER_PAGE = 25;

  function needsColumns(job) {
    return Boolean(job.missing_fields && job.missing_fields.length);
  }

  function fieldLabel(name) {
    return FIELD_LABEL[name] || name;
  }

  function andList(words) {
    if (words.length < 2) return words.join("");
    return words.slice(0, -1).join(", ") + " and " + words[words.length - 1];
  }

  function element(tag, attributes, text) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      el.setAttribute(name, attributes[name]);
    });
    if (text !== undefined && text !== null) el.textContent = String(text); // never markup: it's someone's spreadsheet
    return el;
  }

  function formatWhen(iso) {
    var when = new Date(iso);
    if (Number.isNaN(when.getTime())) return "";
    return when.toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  function renderColumns(job) {
    var panel = $("#columns-panel");
    var columns = job.columns || [];
    panel.hidden = columns.length === 0;
    if (!columns.length) return;
    var choosing = needsColumns(job);
    var unmatched = columns.filter(function (column) { return !column.field && column.header; });
    // Open when there is something to decide or to notice: a column to choose, one not recognised, a remembered choice.
    panel.open = choosing || unmatched.length > 0 || Boolean(job.remembered_columns);
    var matched = columns.filter(function (column) { return column.field; }).length;
    setText(panel, "columns-summary", formatNumber(matched) + " of " + plural(columns.length, "column", "columns") + " used" +
      (unmatched.length ? "; not recognised: " + unmatched.map(function (column) { return column.header; }).join(", ") : ""));

    var note = $("[data-field='columns-note']", panel);
    var remembered = job.remembered_columns;
    if (choosing) {
      note.textContent = "Choose the column that holds " + andList(job.missing_fields.map(fieldLabel)) +
        ". Suggestions come from the headers and from what the values look like; your choice is remembered for sheets with these headers.";
    } else if (remembered) {
      note.textContent = "These columns were matched as " + (remembered.confirmed_by || "an admin") + " confirmed on " +
        formatWhen(remembered.confirmed_at) + " for a sheet with the same headers. Change them below if this sheet differs.";
    } else if (unmatched.length) {
      note.textContent = "Columns not recognised are ignored." +
        (mayCommit(job) ? " If one holds a customer field, choose it below and check again." : "");
    } else {
      note.textContent = "";
    }
    note.hidden = !note.textContent;
    note.classList.toggle("note-remembered", Boolean(remembered) && !choosing);

    var editable = mayCommit(job);
    var tbody = $("[data-field='columns-body']", panel);
    tbody.textContent = "";
    columns.forEach(function (column) {
      var tr = element("tr");
      tr.appendChild(element("td", { class: "nowrap" }, column.column));
      tr.appendChild(element("td", {}, column.header || "(no header)"));
      var samples = element("td", { class: "value samples" });
      (column.samples.length ? column.samples : ["(empty)"]).forEach(function (sample) {
        samples.appendChild(element("span", { class: "sample" }, sample));
      });
      tr.appendChild(samples);
      var holds = element("td");
      var id = "column-" + column.column;
      var select = element("select", { id: id, name: column.column, "aria-label": "Column " + column.column + " (" + (column.header || "no header") + ") holds" });
      select.appendChild(element("option", { value: "" }, "Ignore this column"));
      FIELDS.forEach(function (pair) {
        select.appendChild(element("option", { value: pair[0] }, pair[1]));
      });
      // Where the sheet can't be checked yet, the suggestion is filled in; the admin confirms it with the button.
      select.value = column.field || (choosing && column.suggested_field) || "";
      select.disabled = !editable;
      holds.appendChild(select);
      var how = column.field ? "Matched by " + MATCHED[column.matched_by] :
        column.suggested_field ? "Suggested: its values look like " + LOOKS_LIKE[column.suggested_field] : "Not used";
      holds.appendChild(element("span", { class: "cell-note match-" + (column.matched_by || (column.suggested_field ? "suggested" : "none")) }, how));
      tr.appendChild(holds);
      tbody.appendChild(tr);
    });
    var button = $("#columns-button");
    button.hidden = !editable;
    button.classList.toggle("primary", choosing);
    button.classList.toggle("secondary", !choosing);
    renderColumnsWarning(job);
  }

  function renderColumnsWarning(job) {
    var warning = $("#columns-panel [data-field='columns-warning']");
    warning.hidden = !(mayCommit(job) && num(job.corrected_rows) > 0);
    warning.textContent = warning.hidden ? "" :
      "Checking again starts from the top: the " + plural(job.corrected_rows, "row", "rows") + " you corrected will need correcting again.";
  }

  $("#columns-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearAlert();
    var choice = {};
    $$("select", this).forEach(function (select) {
      choice[select.name] = select.value;
    });
    var button = $("#columns-button");
    button.disabled = true;
    api("PATCH", url("job", state.jobId), { column_map: choice }).then(
      function (job) {
        button.disabled = false;
        state.rows = null;
        render(job);
        return follow();
      },
      function (problem) {
        button.disabled = false;
        showAlert(problem.message);
      }
    );
  });

  function renderAudit(job) {
    var box = $("#audit");
    var entries = job.audit_trail || [];
    box.hidden = entries.length === 0;
    var list = $("[data-field='audit-list']", box);
    list.textContent = "";
    entries.forEach(function (entry) {
      var li = element("li");
      var what = entry.action === "columns_chosen" ? "Columns chosen" : "Row " + entry.row_number + " corrected";
      li.appendChild(element("strong", {}, what));
      var changes = (entry.changes || []).map(function (change) {
        return change.column + ": " + (change.before === "" ? "(empty)" : change.before) + " → " + (change.after === "" ? "(empty)" : change.after);
      });
      if (changes.length) li.appendChild(element("span", {}, " · " + changes.join("; ")));
      li.appendChild(element("span", { class: "muted" }, " · " + (entry.user_name || "someone") + ", " + formatWhen(entry.at)));
      list.appendChild(li);
    });
  }

  // ---- the rows to correct, a page at a time -----------------------------------------------------

  function loadRows(job, page) {
    var token = state.rows && state.rows.token ? state.rows.token + 1 : 1;
    state.rows = { jobId: job.id, checkedAt: job.started_at, page: page, token: token, results: [], count: 0 };
    var path = url("rows", job.id) + "?page=" + page + "&page_size=" + ROWS_PER_PAGE;
    return api("GET", path).then(
      function (data) {
        if (!state.rows || state.rows.token !== token || state.jobId !== job.id) return;
        state.rows.results = data.results;
        state.rows.count = data.count;
        renderRows(job);
      },
      function (problem) {
        if (problem.status === 404 && page > 1) return loadRows(job, page - 1); // the last page emptied
        showAlert(problem.message);
      }
    );
  }

  function renderRows(job) {
    var rows = state.rows;
    var box = $("#preview-errors");
    box.hidden = rows.count === 0;
    var editable = mayCommit(job);
    var fields = job.row_fields || [];
    var head = $("[data-field='rows-head']", box);
    head.textContent = "";
    var tr = element("tr");
    tr.appendChild(element("th", { scope: "col" }, "Row"));
    fields.forEach(function (field) {
      tr.appendChild(element("th", { scope: "col" }, field.column));
    });
    tr.appendChild(element("th", { scope: "col" }, editable ? "" : "Problem"));
    head.appendChild(tr);
    var tbody = $("[data-field='errors-body']", box);
    tbody.textContent = "";
    rows.results.forEach(function (row) {
      tbody.appendChild(editable ? editableRow(row, fields) : readOnlyRow(row, fields));
    });
    $("[data-field='rows-help']", box).hidden = !editable;
    var first = (rows.page - 1) * ROWS_PER_PAGE;
    var pager = $("[data-field='rows-pager']", box);
    pager.hidden = rows.count <= ROWS_PER_PAGE;
    setText(box, "rows-range", "Rows " + formatNumber(first + 1) + "–" + formatNumber(first + rows.results.length) + " of " + formatNumber(rows.count) + " that need attention");
    $("[data-action='rows-previous']", box).disabled = rows.page <= 1;
    $("[data-action='rows-next']", box).disabled = first + rows.results.length >= rows.count;
  }

  function problemsByField(problems) {
    var byField = {};
    var general = [];
    problems.forEach(function (problem) {
      if (problem.field) (byField[problem.field] = byField[problem.field] || []).push(problem.reason);
      else general.push(problem.reason);
    });
    return { byField: byField, general: general };
  }

  function readOnlyRow(row, fields) {
    var tr = element("tr", { "data-row": row.row_number });
    tr.appendChild(element("th", { scope: "row" }, row.row_number));
    var sorted = problemsByField(row.problems);
    fields.forEach(function (field) {
      var td = element("td", { class: "value", "data-label": field.column }, row.values[field.field] || "");
      if (sorted.byField[field.field]) td.classList.add("has-problem");
      tr.appendChild(td);
    });
    tr.appendChild(element("td", { "data-label": "Problem" }, row.problems.map(function (p) { return p.reason; }).join(" ")));
    return tr;
  }

  function editableRow(row, fields) {
    var formId = "row-form-" + row.row_number;
    var tr = element("tr", { "data-row": row.row_number });
    tr.appendChild(element("th", { scope: "row" }, row.row_number));
    fields.forEach(function (field) {
      var td = element("td", { "data-label": field.column });
      var id = "row-" + row.row_number + "-" + field.field;
      var input = element("input", {
        type: "text",
        id: id,
        name: field.field,
        form: formId,
        class: "cell-input",
        autocomplete: "off",
        spellcheck: "false",
        "aria-label": "Row " + row.row_number + ", " + field.column,
      });
      input.value = row.values[field.field] || "";
      input.defaultValue = input.value;
      td.appendChild(input);
      td.appendChild(element("p", { id: id + "-problem", class: "cell-problem" }));
      tr.appendChild(td);
    });
    var actions = element("td", { class: "row-actions", "data-label": "" });
    var form = element("form", { id: formId, class: "row-form", novalidate: "" });
    form.appendChild(element("button", { type: "submit", class: "button small secondary" }, "Save"));
    actions.appendChild(form);
    actions.appendChild(element("p", { class: "row-status", role: "status" }));
    tr.appendChild(actions);
    showRowProblems(tr, row.problems, row.outcome === "SKIPPED" ? "skipped" : "");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      saveRow(tr, row);
    });
    return tr;
  }

  function showRowProblems(tr, problems, status) {
    // A skipped row has nothing wrong in its cells: the one reason (the customer it matches) is said once, beside Save.
    var sorted = problemsByField(status === "skipped" ? [] : problems);
    $$(".cell-input", tr).forEach(function (input) {
      var reasons = sorted.byField[input.name] || [];
      var note = $("#" + input.id + "-problem", tr);
      note.textContent = reasons.join(" ");
      if (reasons.length) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", note.id);
      } else {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      }
    });
    var statusText = sorted.general.join(" ");
    if (status === "skipped") statusText = "Left out: " + (problems[0] ? problems[0].reason : "it matches an existing customer.");
    $(".row-status", tr).textContent = statusText;
    tr.classList.toggle("row-skipped", status === "skipped");
  }

  function saveRow(tr, row) {
    var values = {};
    $$(".cell-input", tr).forEach(function (input) {
      if (input.value !== input.defaultValue) values[input.name] = input.value;
    });
    var button = $("button[type='submit']", tr);
    button.disabled = true;
    $(".row-status", tr).textContent = "Checking…";
    clearAlert();
    return api("PATCH", url("row", state.jobId).replace("{row}", row.row_number), { values: values }).then(
      function (answer) {
        button.disabled = false;
        $$(".cell-input", tr).forEach(function (input) {
          input.value = answer.values[input.name] || "";
          input.defaultValue = input.value;
        });
        var skipped = answer.outcome === "skip";
        showRowProblems(tr, answer.problems, skipped ? "skipped" : "");
        tr.classList.toggle("row-corrected", !skipped);
        if (!skipped) {
          $(".row-status", tr).textContent = answer.outcome === "update" ?
            "Corrected: it will update the existing customer." : "Corrected: it will be imported.";
        }
        renderPreviewCounts(answer.job);
        renderColumnsWarning(answer.job);
        focusNextRow(tr);
        // The trail of changes is in the job's detail: fetch it, leaving the rows (and the focus) as they are.
        return api("GET", url("job", state.jobId)).then(function (job) {
          state.job = job;
          renderAudit(job);
        }, function () { /* the next poll or reload shows it */ });
      },
      function (problem) {
        button.disabled = false;
        var verdict = problem.data && problem.data.row;
        if (problem.code === "row_invalid" && verdict) {
          showRowProblems(tr, verdict.problems, "");
          $(".row-status", tr).textContent = "Not saved: " + problemsByField(verdict.problems).general.concat(
            verdict.problems.filter(function (p) { return p.field; }).length ? ["see the cells marked."] : []
          ).join(" ");
          var wrong = $(".cell-input[aria-invalid='true']", tr);
          if (wrong) {
            wrong.focus();
            wrong.select();
          }
          return;
        }
        $(".row-status", tr).textContent = "";
        showAlert(problem.message);
      }
    );
  }

  function focusNextRow(tr) {
    // Keyboard flow: after a row is saved, the next row still to fix gets the focus, on its first wrong cell.
    var next = tr.nextElementSibling;
    while (next && (next.classList.contains("row-corrected") || next.classList.contains("row-skipped"))) {
      next = next.nextElementSibling;
    }
    var target = next && ($(".cell-input[aria-invalid='true']", next) || $(".cell-input", next));
    if (!target) {
      var nextPage = $("[data-action='rows-next']");
      target = nextPage && !nextPage.disabled && !$("[data-field='rows-pager']").hidden ? nextPage : $("#commit-button");
    }
    if (target) {
      target.focus();
      if (target.select) target.select();
    }
  }

  $("[data-action='rows-previous']").addEventListener("click", function () {
    if (state.rows && state.job) loadRows(state.job, state.rows.page - 1);
  });
  $("[data-action='rows-next']").addEventListener("click", function () {
    if (state.rows && state.job) loadRows(state.job, state.rows.page + 1).then(function () {
      var body = $("[data-field='errors-body']");
      var first = $(".cell-input[aria-invalid='true']", body) || $(".cell-input", body);
      if (first) {
        first.focus();
        first.select();
      }
    });
  });

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
          if (ACTIVE.indexOf(job.status) !== -1 || undoRunning(job)) return sleep(delay).then(tick);
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
    state.rows = null;
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
