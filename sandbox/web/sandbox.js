/* lenadex sandbox page: an EHR stand-in in plain JavaScript (no build step, nothing loaded
 * from elsewhere). It lists the synthetic patients, shows a patient's key data, keeps the draft
 * orders the clinician edits, fires CDS Hooks calls at this service, shows the cards (critical
 * first), applies suggestions to the drafts and posts CDS Hooks feedback (accepted/overridden).
 *
 * Card text is never inserted as HTML: renderMarkdown() escapes everything first and then adds
 * only the few tags it creates itself; all other text goes in through textContent.
 * URLs are relative (no leading slash) so that the page also works behind a path prefix.
 */
(function () {
  "use strict";

  var UCUM = "http://unitsofmeasure.org";
  var ORAL = { coding: [{ system: "http://snomed.info/sct", code: "26643006", display: "Oral route" }] };
  var INDICATOR_ORDER = { critical: 0, warning: 1, info: 2 };
  var INDICATOR_WORDS = { critical: "Critical", warning: "Warning", info: "Info" };
  // The schedules the editor offers: hours between doses → FHIR Timing.repeat and words.
  var FREQUENCIES = [
    { hours: 24, label: "once daily", repeat: { frequency: 1, period: 1, periodUnit: "d" } },
    { hours: 48, label: "every 48 h", words: "every 48 hours", repeat: { frequency: 1, period: 2, periodUnit: "d" } },
    { hours: 168, label: "weekly", words: "once weekly", repeat: { frequency: 1, period: 1, periodUnit: "wk" } }
  ];
  var PERIOD_HOURS = { s: 1 / 3600, min: 1 / 60, h: 1, d: 24, wk: 168, mo: 730.5, a: 8766 };
  // RxNorm codes: lenalidomide ingredient, Revlimid products; dexamethasone ingredient.
  var EDITABLE = {
    lenalidomide: { codes: ["342369", "643722", "643723", "643724", "643725", "1369576"], defaults: { dose: 25, hours: 24, days: "1-21/28" } },
    dexamethasone: { codes: ["3264"], defaults: { dose: 40, hours: 168, days: "1,8,15,22/28" } }
  };
  var DAYS_PATTERN = /^\s*(\d{1,2}(\s*-\s*\d{1,2})?(\s*,\s*\d{1,2}(\s*-\s*\d{1,2})?)*)\s*\/\s*(\d{1,3})\s*$/;

  var state = {
    patients: [],
    services: {},        // hook → service id, from discovery
    slug: null,
    summary: null,
    drafts: [],          // FHIR MedicationRequests (draft), as the EHR holds them
    changed: {},         // draft id → true when edited or rewritten by a suggestion
    newCount: 0,
    busy: false
  };

  // --- Markdown (a small, safe subset) -----------------------------------------------------

  function escapeHtml(text) {
    // Character references already in the text (the service escapes patient data as &lt; …)
    // are kept: they display as text and cannot make markup.
    return String(text)
      .replace(/&(?!(?:amp|lt|gt|quot|apos|nbsp|#\d{1,7}|#x[0-9a-fA-F]{1,6});)/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function inline(escaped) {
    return escaped
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*\w])\*(?=[^\s*])([^*]*?[^\s*])\*(?![*\w])/g, "$1<em>$2</em>");
  }

  /* Paragraphs (blank-line separated), line breaks inside them, **bold**, *italic*, `code`,
   * "- " / "* " bullet lists, "1. " numbered lists and "#" headings (shown as bold lines). */
  function renderMarkdown(source) {
    var lines = escapeHtml(source || "").replace(/\r\n?/g, "\n").split("\n");
    var html = [];
    var paragraph = [];
    var list = null; // {tag, items}

    function flushParagraph() {
      if (paragraph.length) {
        html.push("<p>" + paragraph.map(function (l) { return inline(l.trim()); }).join("<br>") + "</p>");
        paragraph = [];
      }
    }
    function flushList() {
      if (list) {
        html.push("<" + list.tag + ">" + list.items.map(function (item) {
          return "<li>" + item.map(function (l) { return inline(l.trim()); }).join("<br>") + "</li>";
        }).join("") + "</" + list.tag + ">");
        list = null;
      }
    }
    lines.forEach(function (line) {
      var bullet = /^\s{0,3}[-*+]\s+(.*)$/.exec(line);
      var numbered = /^\s{0,3}\d{1,3}[.)]\s+(.*)$/.exec(line);
      var heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (!line.trim()) {
        flushParagraph();
        flushList();
      } else if (bullet || numbered) {
        flushParagraph();
        var tag = bullet ? "ul" : "ol";
        if (list && list.tag !== tag) { flushList(); }
        if (!list) { list = { tag: tag, items: [] }; }
        list.items.push([(bullet || numbered)[1]]);
      } else if (heading) {
        flushParagraph();
        flushList();
        html.push("<p><strong>" + inline(heading[1]) + "</strong></p>");
      } else if (list && /^\s+\S/.test(line)) {
        list.items[list.items.length - 1].push(line);  // continuation of a list item
      } else {
        flushList();
        paragraph.push(line);
      }
    });
    flushParagraph();
    flushList();
    return html.join("\n");
  }

  // --- small DOM helpers -------------------------------------------------------------------

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === undefined || value === null || value === false) { return; }
      if (name === "text") { node.textContent = value; }
      else if (name === "className") { node.className = value; }
      else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), value); }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function $(id) { return document.getElementById(id); }

  function setStatus(message, isError) {
    var status = $("global-status");
    status.textContent = message || "";
    status.className = "global-status" + (isError ? " error" : "");
  }

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function fetchJson(url, options) {
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
        return { status: response.status, ok: response.ok, body: body };
      });
    });
  }

  function postJson(url, body) {
    return fetchJson(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    });
  }

  function problem(result) {
    var body = result.body;
    if (body && body.resourceType === "OperationOutcome" && body.issue) {
      return "HTTP " + result.status + ": " + body.issue.map(function (i) { return i.diagnostics || i.code; }).join("; ");
    }
    return "HTTP " + result.status + (typeof body === "string" && body ? ": " + body.slice(0, 200) : "");
  }

  // --- medication orders: reading and writing the FHIR dosage --------------------------------

  function drugOf(resource) {
    var concept = resource.medicationCodeableConcept || {};
    var codings = concept.coding || [];
    var names = [concept.text || ""].concat(codings.map(function (c) { return c.display || ""; })).join(" ").toLowerCase();
    var codes = codings.map(function (c) { return String(c.code || ""); });
    var found = null;
    Object.keys(EDITABLE).forEach(function (drug) {
      if (found) { return; }
      if (names.indexOf(drug) >= 0 || (drug === "lenalidomide" && names.indexOf("revlimid") >= 0) ||
          EDITABLE[drug].codes.some(function (code) { return codes.indexOf(code) >= 0; })) {
        found = drug;
      }
    });
    return found;
  }

  function drugName(resource) {
    var concept = resource.medicationCodeableConcept || {};
    return concept.text || ((concept.coding || [])[0] || {}).display ||
      (resource.medicationReference || {}).display || "medication";
  }

  function dosageText(resource) {
    var dosage = (resource.dosageInstruction || [])[0] || {};
    return dosage.text || "";
  }

  /* {dose, hours, days} of an order, from its structured dosage and its text. */
  function readRegimen(resource) {
    var dosage = (resource.dosageInstruction || [])[0] || {};
    var regimen = { dose: null, hours: null, days: "" };
    var quantity = ((dosage.doseAndRate || [])[0] || {}).doseQuantity;
    if (quantity && typeof quantity.value === "number" && /^mg$/i.test(quantity.code || quantity.unit || "")) {
      regimen.dose = quantity.value;
    }
    var repeat = (dosage.timing || {}).repeat;
    if (repeat && repeat.period && PERIOD_HOURS[repeat.periodUnit]) {
      regimen.hours = repeat.period * PERIOD_HOURS[repeat.periodUnit] / (repeat.frequency || 1);
    }
    var text = dosage.text || "";
    if (regimen.dose === null) {
      var dose = /(\d+(?:\.\d+)?)\s*mg\b/i.exec(text);
      if (dose) { regimen.dose = parseFloat(dose[1]); }
    }
    regimen.days = daysFromText(text);
    return regimen;
  }

  function daysFromText(text) {
    // "on days 1-21 of each 28-day cycle", "days 1, 8, 15 and 22 of each 28-day cycle",
    // "days 1-21 of 28", "d1-21/28", "d1-21 q28d".
    var words = /\bdays?\s+(\d[\d\s,\-\u2013]*(?:\s*and\s*\d+(?:\s*-\s*\d+)?)?)\s+of\s+(?:each\s+|every\s+|a\s+)?(\d+)(?:[\s-]*days?)?/i.exec(text);
    if (words) {
      return words[1].replace(/\s*and\s*/gi, ",").replace(/\u2013/g, "-").replace(/\s+/g, "").replace(/,+/g, ",").replace(/,$/, "") + "/" + words[2];
    }
    var short = /\bd(\d[\d,\-]*)\s*(?:\/|\s+q)(\d+)/i.exec(text);
    return short ? short[1] + "/" + short[2] : "";
  }

  function frequencyFor(hours) {
    return FREQUENCIES.filter(function (f) { return hours !== null && Math.abs(f.hours - hours) < 1e-6; })[0] || null;
  }

  function dayWords(days) {
    var parts = days.split(",");
    return parts.length > 1 ? parts.slice(0, -1).join(", ") + " and " + parts[parts.length - 1] : parts[0];
  }

  /* The order with its dosage rewritten from the editor's fields (id, medication, subject,
   * requester, reason … kept). The text carries the cycle days, which Timing cannot. */
  function withRegimen(resource, drug, dose, hours, days) {
    var order = clone(resource);
    var old = (order.dosageInstruction || [])[0] || {};
    var frequency = frequencyFor(hours);
    var text = dose + " mg orally " + (frequency ? (frequency.words || frequency.label) : "as scheduled");
    var match = DAYS_PATTERN.exec(days || "");
    if (match) {
      text += " on days " + dayWords(match[1].replace(/\s+/g, "")) + " of each " + match[5] + "-day cycle";
    }
    var dosage = { text: text };
    if (frequency) { dosage.timing = { repeat: clone(frequency.repeat) }; }
    else if (old.timing) { dosage.timing = old.timing; }
    dosage.route = old.route || ORAL;
    dosage.doseAndRate = [{ doseQuantity: { value: dose, unit: "mg", system: UCUM, code: "mg" } }];
    order.dosageInstruction = [dosage];
    delete order.text; // the narrative would describe the old dose
    return order;
  }

  function newDraft(drug) {
    var patientRef = { reference: "Patient/" + state.slug };
    var codes = { lenalidomide: "342369", dexamethasone: "3264" };
    var base = {
      resourceType: "MedicationRequest",
      id: "sandbox-" + drug + "-" + (++state.newCount),
      status: "draft",
      intent: "order",
      medicationCodeableConcept: {
        coding: [{ system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: codes[drug], display: drug }],
        text: drug
      },
      subject: patientRef,
      authoredOn: new Date().toISOString(),
      requester: { reference: "Practitioner/sandbox-clinician", display: "Sandbox Clinician" }
    };
    var d = EDITABLE[drug].defaults;
    return withRegimen(base, drug, d.dose, d.hours, d.days);
  }

  // --- the patient panel ---------------------------------------------------------------------

  function renderPatient(summary) {
    var box = $("patient-summary");
    box.textContent = "";
    var p = summary.patient || {};
    box.appendChild(el("div", { className: "patient-header" }, [
      el("span", { className: "patient-name", text: p.name || summary.slug, "data-testid": "patient-name" }),
      el("span", { className: "patient-demo", text: [p.age !== undefined ? p.age + " y" : null, p.sex, p.birthDate ? "born " + p.birthDate : null].filter(Boolean).join(" · ") }),
      el("span", { className: "test-label", text: "synthetic" })
    ]));
    box.appendChild(el("details", { className: "story" }, [
      el("summary", { text: "What this patient is for" }),
      el("p", { text: summary.story })
    ]));

    box.appendChild(renalBox(summary.renal || {}));

    var labRows = (summary.labs || []).map(function (lab) {
      var status = lab.fresh === undefined ? "" : (lab.fresh ? el("span", { className: "badge fresh", text: "current" }) : el("span", { className: "badge stale", text: "stale" }));
      return el("tr", { "data-testid": "lab-" + lab.key }, [
        el("th", { scope: "row", text: lab.name }), el("td", { text: lab.value }), el("td", { className: "date", text: lab.date }), el("td", {}, [status])
      ]);
    });
    box.appendChild(el("div", { className: "keybox" }, [
      el("h3", { text: "Laboratory and measurements (latest)" }),
      // In a box of its own: if the table cannot fit a narrow screen, it scrolls there, not the page.
      labRows.length ? el("div", { className: "table-scroll" }, [el("table", { className: "data" }, [
        el("thead", {}, [el("tr", {}, [el("th", { text: "" }), el("th", { text: "value" }), el("th", { text: "date" }), el("th", { text: "" })])]),
        el("tbody", {}, labRows)
      ])]) : el("p", { className: "muted", text: "No usable results on record." })
    ]));

    var vte = summary.vteRiskFactors || {};
    var factors = (vte.high || []).map(function (f) { return el("li", {}, [el("span", { className: "badge high", text: "high" }), " " + f]); })
      .concat((vte.standard || []).map(function (f) { return el("li", {}, [el("span", { className: "badge standard", text: "risk" }), " " + f]); }));
    box.appendChild(el("div", { className: "keybox", "data-testid": "vte-risk" }, [
      el("h3", { text: "VTE risk factors (guideline Table 3)" }),
      factors.length ? el("ul", { className: "plain" }, factors) : el("p", { className: "muted small", text: "None found in the record." })
    ]));

    box.appendChild(el("div", { className: "keybox" }, [
      el("h3", { text: "Conditions" }),
      listOrNone((summary.conditions || []).map(function (c) {
        return c.display + (c.active ? "" : " (resolved)") + (c.onset ? " — since " + c.onset : "");
      }), "None recorded.")
    ]));
    var meds = summary.medications || {};
    box.appendChild(el("div", { className: "keybox", "data-testid": "medications" }, [
      el("h3", { text: "Medications — active" }),
      listOrNone((meds.active || []).map(medicationLine), "None active."),
      el("h3", { text: "Medications — past" }),
      listOrNone((meds.past || []).map(medicationLine), "None recorded.")
    ]));
    if ((summary.dataProblems || []).length) {
      box.appendChild(el("div", { className: "keybox" }, [
        el("h3", { text: "Data the service could not use" }),
        listOrNone(summary.dataProblems, "")
      ]));
    }
  }

  function renalBox(renal) {
    var children = [el("h3", { text: "Kidney function" })];
    if (renal.known) {
      var value = renal.crcl !== undefined ? "CrCl " + renal.crcl.toFixed(1) + " mL/min" : "On dialysis";
      var method = { "cockcroft-gault": "Cockcroft-Gault", "measured-crcl": "measured clearance", egfr: "eGFR", dialysis: "dialysis" }[renal.method] || renal.method;
      children.push(el("div", {}, [
        el("span", { className: "crcl-value", text: value, "data-testid": "crcl" }), " ",
        el("span", { className: "muted", text: "(" + method + ")" })
      ]));
      children.push(el("div", { className: "crcl-tier", text: renal.tier }));
      var explanation = el("div", { className: "crcl-explanation" });
      explanation.innerHTML = renderMarkdown(renal.explanation || "");
      children.push(explanation);
    } else {
      children.push(el("p", { className: "crcl-unknown", "data-testid": "crcl", text: "Unknown — missing " + (renal.missing || []).join("; ") }));
    }
    if ((renal.inputs || []).length) {
      children.push(el("ul", { className: "plain" }, renal.inputs.map(function (i) {
        return el("li", { text: i.name + ": " + i.value + (i.date ? " (" + i.date + ")" : "") });
      })));
    }
    return el("div", { className: "keybox", "data-testid": "renal" }, children);
  }

  function medicationLine(m) {
    return m.display + (m.dosage ? " — " + m.dosage : "") + (m.authored ? " (" + m.status + ", ordered " + m.authored + ")" : " (" + m.status + ")");
  }

  function listOrNone(items, none) {
    if (!items.length) { return el("p", { className: "muted small", text: none }); }
    return el("ul", { className: "plain" }, items.map(function (t) { return el("li", { text: t }); }));
  }

  // --- the draft orders editor -------------------------------------------------------------------

  function renderDrafts() {
    var box = $("draft-orders");
    box.textContent = "";
    var hook = currentHook();
    if (!state.drafts.length) {
      box.appendChild(el("p", { className: "muted", text: "No draft orders." + (hook === "patient-view" ? " patient-view looks at the record only." : "") }));
    }
    state.drafts.forEach(function (resource, index) {
      box.appendChild(draftEditor(resource, index));
    });
    var add = $("order-add");
    add.textContent = "";
    if (state.summary && state.summary.hooks.some(function (h) { return h !== "patient-view"; })) {
      Object.keys(EDITABLE).forEach(function (drug) {
        if (!state.drafts.some(function (r) { return drugOf(r) === drug; })) {
          add.appendChild(el("button", {
            type: "button", className: "button small quiet", "data-testid": "add-" + drug,
            text: "+ Add " + drug + " order",
            onclick: function () { state.drafts.push(newDraft(drug)); renderDrafts(); }
          }));
        }
      });
    }
  }

  function draftEditor(resource, index) {
    var drug = drugOf(resource);
    var id = resource.id || "draft-" + index;
    var wrapper = el("div", {
      className: "draft" + (state.changed[id] ? " changed" : ""), "data-testid": "draft-" + (drug || "other"),
      "data-order-id": id
    });
    var remove = el("button", {
      type: "button", className: "button small quiet", text: "Remove", "aria-label": "Remove the " + drugName(resource) + " order",
      onclick: function () { state.drafts.splice(index, 1); renderDrafts(); }
    });
    wrapper.appendChild(el("div", { className: "draft-head" }, [
      el("span", { className: "draft-drug", text: drugName(resource) }),
      el("span", { className: "muted small", text: "MedicationRequest/" + id + (state.changed[id] ? " · changed" : "") +
        (currentHook() === "order-select" && selectedDraft() === resource ? " · selected" : "") }),
      remove
    ]));
    var text = el("p", { className: "draft-text", "data-testid": "draft-text", text: dosageText(resource) || "(no dosage text)" });
    if (!drug) {
      wrapper.appendChild(text);
      return wrapper;
    }
    var regimen = readRegimen(resource);
    var prefix = "draft-" + id;
    var doseInput = el("input", {
      id: prefix + "-dose", type: "number", min: "0", step: "any", inputmode: "decimal",
      value: regimen.dose === null ? "" : String(regimen.dose), "data-testid": drug + "-dose"
    });
    var frequency = el("select", { id: prefix + "-frequency", "data-testid": drug + "-frequency" },
      FREQUENCIES.map(function (f) {
        return el("option", { value: String(f.hours), text: f.label, selected: regimen.hours !== null && Math.abs(f.hours - regimen.hours) < 1e-6 });
      }));
    if (!frequencyFor(regimen.hours)) {
      frequency.insertBefore(el("option", { value: "", text: "as ordered", selected: true }), frequency.firstChild);
    }
    var daysInput = el("input", {
      id: prefix + "-days", type: "text", value: regimen.days, placeholder: "e.g. 1-21/28",
      "data-testid": drug + "-days", "aria-describedby": prefix + "-days-help", autocomplete: "off", spellcheck: "false"
    });
    var error = el("p", { className: "draft-error", role: "alert", id: prefix + "-error" });
    function update() {
      var dose = parseFloat(doseInput.value);
      var days = daysInput.value.trim();
      var problems = [];
      doseInput.setAttribute("aria-invalid", String(!(dose > 0)));
      if (!(dose > 0)) { problems.push("Enter a dose in mg."); }
      var daysOk = !days || DAYS_PATTERN.test(days);
      daysInput.setAttribute("aria-invalid", String(!daysOk));
      if (!daysOk) { problems.push("Schedule days as days/cycle length, e.g. 1-21/28 or 1,8,15,22/28."); }
      error.textContent = problems.join(" ");
      if (problems.length) { return; }
      var hours = frequency.value ? parseFloat(frequency.value) : readRegimen(state.drafts[index]).hours;
      state.drafts[index] = withRegimen(state.drafts[index], drug, dose, hours, days);
      state.changed[id] = true;
      text.textContent = dosageText(state.drafts[index]);
      wrapper.classList.add("changed");
    }
    [doseInput, daysInput].forEach(function (input) { input.addEventListener("input", update); });
    frequency.addEventListener("change", update);
    wrapper.appendChild(el("div", { className: "draft-fields" }, [
      el("label", { for: prefix + "-dose" }, ["Dose (mg)", doseInput]),
      el("label", { for: prefix + "-frequency" }, ["Frequency", frequency]),
      el("label", { for: prefix + "-days" }, ["Schedule days / cycle", daysInput,
        el("span", { id: prefix + "-days-help", className: "muted small", text: "e.g. 1-21/28" })])
    ]));
    wrapper.appendChild(text);
    wrapper.appendChild(error);
    return wrapper;
  }

  function draftsInvalid() {
    return Array.prototype.some.call(document.querySelectorAll("#draft-orders [aria-invalid='true']"), function () { return true; });
  }

  // --- firing a hook -------------------------------------------------------------------------

  function currentHook() {
    var checked = document.querySelector("input[name='hook']:checked");
    return checked ? checked.value : "order-select";
  }

  function syncHooks() {
    var hooks = state.summary ? state.summary.hooks : [];
    var inputs = document.querySelectorAll("input[name='hook']");
    Array.prototype.forEach.call(inputs, function (input) {
      var allowed = hooks.indexOf(input.value) >= 0;
      input.disabled = !allowed;
      input.parentNode.classList.toggle("disabled", !allowed);
    });
    if (!hooks.length) { return; }
    var current = document.querySelector("input[name='hook']:checked");
    if (!current || current.disabled) {
      var preferred = ["order-select", "order-sign", "patient-view"].filter(function (h) { return hooks.indexOf(h) >= 0; })[0];
      document.querySelector("input[name='hook'][value='" + preferred + "']").checked = true;
    }
  }

  function selectedDraft() {
    return state.drafts.filter(function (r) { return drugOf(r) === "lenalidomide"; })[0] || state.drafts[0];
  }

  function fire() {
    if (!state.slug || state.busy) { return Promise.resolve(); }
    if (draftsInvalid()) {
      setStatus("Fix the highlighted order fields first.", true);
      return Promise.resolve();
    }
    var hook = currentHook();
    var serviceId = state.services[hook];
    if (!serviceId) {
      setStatus("The service offers nothing for " + hook + " (discovery).", true);
      return Promise.resolve();
    }
    if (hook !== "patient-view" && !state.drafts.length) {
      setStatus(hook + " needs at least one draft order: add one first.", true);
      return Promise.resolve();
    }
    state.busy = true;
    $("fire-button").disabled = true;
    setStatus("Calling " + serviceId + "…");
    var slug = state.slug;
    return fetchJson("sandbox/api/patients/" + encodeURIComponent(slug) + "/request?hook=" + encodeURIComponent(hook))
      .then(function (result) {
        if (!result.ok) { throw new Error(problem(result)); }
        var request = result.body;
        if (hook !== "patient-view") {
          request.context.draftOrders = {
            resourceType: "Bundle", type: "collection",
            entry: state.drafts.map(function (r) { return { resource: r }; })
          };
          if (hook === "order-select") {
            request.context.selections = ["MedicationRequest/" + selectedDraft().id];
          }
        }
        $("last-request").textContent = JSON.stringify(request, null, 2);
        var started = performance.now();
        return postJson("cds-services/" + encodeURIComponent(serviceId), request).then(function (answer) {
          if (slug !== state.slug) { return; } // the patient changed meanwhile
          $("last-response").textContent = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body, null, 2);
          var ms = Math.round(performance.now() - started);
          if (!answer.ok) {
            renderCallError(answer);
            setStatus(hook + " failed: " + problem(answer), true);
            return;
          }
          renderCards(answer.body, serviceId, hook);
          var count = (answer.body.cards || []).length;
          setStatus(hook + " → " + count + " card" + (count === 1 ? "" : "s") + " in " + ms + " ms.");
        });
      })
      .catch(function (error) {
        setStatus("Could not fire " + hook + ": " + error.message, true);
      })
      .then(function () {
        state.busy = false;
        $("fire-button").disabled = false;
      });
  }

  function renderCallError(answer) {
    var box = $("cards");
    box.textContent = "";
    box.appendChild(el("div", { className: "call-error", role: "alert", "data-testid": "call-error", text: problem(answer) }));
  }

  // --- cards ---------------------------------------------------------------------------------

  function renderCards(response, serviceId, hook) {
    var box = $("cards");
    box.textContent = "";
    var cards = (response.cards || []).map(function (card, i) { return { card: card, i: i }; });
    function rank(card) {
      var value = INDICATOR_ORDER[card.indicator];
      return value === undefined ? 3 : value;
    }
    cards.sort(function (a, b) { return rank(a.card) - rank(b.card) || a.i - b.i; });
    if (!cards.length) {
      box.appendChild(el("p", { className: "no-cards", "data-testid": "no-cards", text: "No cards: nothing to change for " + hook + "." }));
    }
    cards.forEach(function (item) { box.appendChild(cardView(item.card, serviceId)); });
    (response.systemActions || []).forEach(function (action) {
      box.appendChild(el("p", { className: "muted small", text: "System action [" + action.type + "] " + (action.description || "") }));
    });
  }

  function cardView(card, serviceId) {
    var indicator = INDICATOR_ORDER[card.indicator] === undefined ? "info" : card.indicator;
    var rules = ((card.extension || {})["org.lenadex.rules"] || []);
    var dose = (card.extension || {})["org.lenadex.dose"];
    var article = el("article", {
      className: "cds-card " + indicator, "data-testid": "card", "data-indicator": indicator,
      "data-uuid": card.uuid, "data-rules": rules.join(" "), "data-dose-drug": dose ? dose.drug : null,
      "aria-label": INDICATOR_WORDS[indicator] + ": " + card.summary
    });
    article.appendChild(el("div", { className: "card-head" }, [
      el("span", { className: "indicator " + indicator, text: INDICATOR_WORDS[indicator] }),
      el("h3", { className: "card-summary", "data-testid": "card-summary", text: card.summary })
    ]));
    if (card.detail) {
      var detail = el("div", { className: "card-detail", "data-testid": "card-detail" });
      detail.innerHTML = renderMarkdown(card.detail);
      article.appendChild(detail);
    }
    var status = el("p", { className: "card-status", role: "status", "data-testid": "card-status" });
    var suggestionButtons = [];
    if ((card.suggestions || []).length) {
      var list = el("div", { className: "suggestions" });
      card.suggestions.forEach(function (suggestion) {
        var button = el("button", {
          type: "button", className: "button", "data-testid": "suggestion", "data-uuid": suggestion.uuid,
          text: suggestion.label,
          onclick: function () { acceptSuggestion(card, suggestion, serviceId, suggestionButtons, status); }
        });
        suggestionButtons.push(button);
        list.appendChild(el("div", { className: "suggestion" }, [
          button,
          suggestion.isRecommended ? el("span", { className: "recommended", text: "recommended" }) : null,
          el("ul", { className: "suggestion-actions" }, (suggestion.actions || []).map(function (action) {
            return el("li", {}, [el("span", { className: "action-type", text: action.type }), action.description || ""]);
          }))
        ]));
      });
      article.appendChild(list);
    }
    if ((card.links || []).length) {
      article.appendChild(el("p", { className: "card-links" }, card.links.map(function (link) {
        var safe = /^https?:\/\//i.test(link.url || "");
        return safe ? el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer", text: link.label + " ↗" }) : el("span", { text: link.label });
      })));
    }
    var source = card.source || {};
    article.appendChild(el("div", { className: "card-source" }, [
      el("span", { text: "Source: " + (source.label || "") }),
      rules.length ? el("span", { text: "· rules" }) : null
    ].concat(rules.map(function (r) { return el("span", { className: "rule-chip", "data-testid": "rule-id", text: r }); }))));
    if (card.uuid && (card.overrideReasons || []).length) {
      article.appendChild(overrideControl(card, serviceId, suggestionButtons, status));
    }
    article.appendChild(status);
    return article;
  }

  function overrideControl(card, serviceId, suggestionButtons, status) {
    var reasons = card.overrideReasons || [];
    var formId = "override-" + card.uuid;
    var wrapper = el("div", {});
    var toggle = el("button", {
      type: "button", className: "button small quiet", "data-testid": "override-toggle",
      "aria-expanded": "false", "aria-controls": formId, text: "Override…"
    });
    var select = el("select", { id: formId + "-reason", "data-testid": "override-reason" },
      [el("option", { value: "", text: reasons.length ? "Choose a reason…" : "No coded reasons offered" })].concat(
        reasons.map(function (r, i) { return el("option", { value: String(i), text: r.display || r.code }); })));
    var comment = el("textarea", { id: formId + "-comment", rows: "2", maxlength: "4000", "data-testid": "override-comment", placeholder: "Optional comment" });
    var submit = el("button", { type: "submit", className: "button small primary", "data-testid": "override-submit", text: "Record override" });
    var form = el("form", { id: formId, className: "override-form", hidden: true, "data-testid": "override-form" }, [
      el("label", { for: formId + "-reason" }, ["Reason for overriding", select]),
      el("label", { for: formId + "-comment" }, ["Comment", comment]),
      el("div", {}, [submit])
    ]);
    toggle.addEventListener("click", function () {
      var open = form.hidden;
      form.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (open) { select.focus(); }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = select.value === "" ? null : reasons[parseInt(select.value, 10)];
      if (reasons.length && !reason) {
        status.className = "card-status error";
        status.textContent = "Choose a reason for overriding.";
        select.focus();
        return;
      }
      var item = { card: card.uuid, outcome: "overridden", outcomeTimestamp: new Date().toISOString() };
      var overrideReason = {};
      if (reason) { overrideReason.reason = { system: reason.system, code: reason.code, display: reason.display }; }
      if (comment.value.trim()) { overrideReason.userComment = comment.value.trim(); }
      if (Object.keys(overrideReason).length) { item.overrideReason = overrideReason; }
      submit.disabled = true;
      sendFeedback(serviceId, item).then(function (result) {
        if (!result.ok) { throw new Error(problem(result)); }
        status.className = "card-status ok";
        status.textContent = "Override recorded" + (reason ? ": " + (reason.display || reason.code) : "") + ".";
        form.hidden = true;
        toggle.disabled = true;
        toggle.setAttribute("aria-expanded", "false");
        suggestionButtons.forEach(function (b) { b.disabled = true; });
        status.closest(".cds-card").classList.add("done");
      }).catch(function (error) {
        submit.disabled = false;
        status.className = "card-status error";
        status.textContent = "Override not recorded: " + error.message;
      });
    });
    wrapper.appendChild(el("div", { className: "card-controls" }, [toggle]));
    wrapper.appendChild(form);
    return wrapper;
  }

  function sendFeedback(serviceId, item) {
    return postJson("cds-services/" + encodeURIComponent(serviceId) + "/feedback", { feedback: [item] });
  }

  /* Apply the suggestion's actions to the draft orders (update: replace the draft with the same
   * id; create: add a new draft; delete: remove it), report the acceptance, and fire again. */
  function acceptSuggestion(card, suggestion, serviceId, buttons, status) {
    if (state.busy) { return; }
    buttons.forEach(function (b) { b.disabled = true; });
    var applied = [];
    (suggestion.actions || []).forEach(function (action) {
      var resource = action.resource;
      if (action.type === "update" && resource && resource.resourceType === "MedicationRequest") {
        var at = state.drafts.map(function (r) { return r.id; }).indexOf(resource.id);
        if (at >= 0) { state.drafts[at] = clone(resource); } else { state.drafts.push(clone(resource)); }
        state.changed[resource.id] = true;
        applied.push("updated " + drugName(resource));
      } else if (action.type === "create" && resource && resource.resourceType === "MedicationRequest") {
        var created = clone(resource);
        if (!created.id) { created.id = "sandbox-new-" + (++state.newCount); }
        created.status = created.status || "draft";
        state.drafts.push(created);
        state.changed[created.id] = true;
        applied.push("added " + drugName(created));
      } else if (action.type === "delete") {
        // CDS Hooks 2.0.1: resourceId is a relative reference ("MedicationRequest/<id>"); a
        // list of them is accepted too, and the deprecated id in resource.
        var references = [].concat(action.resourceId ||
          (typeof resource === "string" ? resource : (resource && resource.id ? (resource.resourceType || "") + "/" + resource.id : [])));
        references.forEach(function (reference) {
          var parts = String(reference).split("/");
          var id = parts.pop();
          var type = parts.pop();
          var before = state.drafts.length;
          state.drafts = state.drafts.filter(function (r) { return !(r.id === id && (!type || r.resourceType === type)); });
          if (state.drafts.length < before) {
            delete state.changed[id];
            applied.push("removed " + String(reference));
          }
        });
      }
    });
    renderDrafts();
    var item = { card: card.uuid, outcome: "accepted", outcomeTimestamp: new Date().toISOString() };
    if (suggestion.uuid) { item.acceptedSuggestions = [{ id: suggestion.uuid }]; }
    var feedback = card.uuid ? sendFeedback(serviceId, item) : Promise.resolve({ ok: true });
    status.className = "card-status ok";
    status.textContent = "Accepted: " + suggestion.label + ".";
    return feedback.then(function (result) {
      var note = result.ok ? "" : " (feedback not recorded: " + problem(result) + ")";
      if (currentHook() !== "patient-view" && !state.drafts.length) {
        // The last draft was removed: nothing is left for an order hook to check.
        setStatus("Accepted “" + suggestion.label + "”: " + (applied.join(", ") || "nothing changed") +
          "; no draft orders left to check." + note, !result.ok);
        return;
      }
      return fire().then(function () {
        setStatus("Accepted “" + suggestion.label + "”: " + applied.join(", ") + "; fired " + currentHook() + " again." + note, !result.ok);
      });
    }).catch(function (error) {
      setStatus("Could not report the acceptance: " + error.message, true);
    });
  }

  // --- choosing a patient ----------------------------------------------------------------------

  function loadPatient(slug) {
    state.slug = slug;
    state.summary = null;
    state.drafts = [];
    state.changed = {};
    $("cards").textContent = "";
    $("cards").appendChild(el("p", { className: "muted", text: "Cards appear here after a hook is fired." }));
    $("last-request").textContent = "";
    $("last-response").textContent = "";
    if (!slug) { return Promise.resolve(); }
    setStatus("Loading " + slug + "…");
    if (history.replaceState) { history.replaceState(null, "", "#" + encodeURIComponent(slug)); }
    return fetchJson("sandbox/api/patients/" + encodeURIComponent(slug)).then(function (result) {
      if (slug !== state.slug) { return; }
      if (!result.ok) { throw new Error(problem(result)); }
      state.summary = result.body;
      state.drafts = (result.body.draftOrders || []).map(function (d) { return clone(d.resource); });
      renderPatient(result.body);
      syncHooks();
      renderDrafts();
      setStatus("Loaded " + slug + ". Edit the orders if you like, choose a hook and fire it.");
      document.body.setAttribute("data-patient-loaded", slug);
    }).catch(function (error) {
      setStatus("Could not load " + slug + ": " + error.message, true);
    });
  }

  function start() {
    var select = $("patient-select");
    Promise.all([fetchJson("sandbox/api/patients"), fetchJson("cds-services")]).then(function (results) {
      var patients = results[0], discovery = results[1];
      if (!patients.ok) { throw new Error("patients: " + problem(patients)); }
      if (!discovery.ok) { throw new Error("discovery: " + problem(discovery)); }
      (discovery.body.services || []).forEach(function (service) {
        if (!state.services[service.hook]) { state.services[service.hook] = service.id; }
      });
      state.patients = patients.body.patients;
      select.textContent = "";
      select.appendChild(el("option", { value: "", text: "Choose a synthetic patient…" }));
      state.patients.forEach(function (p) {
        select.appendChild(el("option", { value: p.slug, text: p.slug + " — " + p.story.split(";")[0] }));
      });
      select.addEventListener("change", function () { loadPatient(select.value); });
      document.querySelectorAll("input[name='hook']").forEach(function (input) {
        input.addEventListener("change", renderDrafts);
      });
      $("fire-form").addEventListener("submit", function (event) { event.preventDefault(); fire(); });
      document.body.setAttribute("data-ready", "true");
      // A link to /sandbox#<slug> opens that patient.
      function followHash() {
        var wanted = decodeURIComponent((location.hash || "").slice(1));
        if (wanted && wanted !== state.slug && state.patients.some(function (p) { return p.slug === wanted; })) {
          select.value = wanted;
          loadPatient(wanted);
          return true;
        }
        return false;
      }
      window.addEventListener("hashchange", followHash);
      if (!followHash()) { setStatus("Choose a patient to begin."); }
    }).catch(function (error) {
      setStatus("The sandbox could not start: " + error.message, true);
    });
  }

  window.LenadexSandbox = { renderMarkdown: renderMarkdown, readRegimen: readRegimen, daysFromText: daysFromText };
  document.addEventListener("DOMContentLoaded", start);
})();
