// The order form's small helpers: product search, item rows, running total, copy button.
// The server is the truth: everything here only saves typing, and the page works without it.
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function cents(text) {
    var t = String(text || "").replace(/\s/g, "").replace(",", ".");
    if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
    var parts = t.split(".");
    return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
  }

  // The catalogue search both the order form and the order page's "Edit items" use: as the
  // manager types, GET `url`?q=… (the latest answer wins), list the products as buttons,
  // and hand the one tapped to `pick`. `keep` filters what is offered; `none` is said when
  // nothing is.
  function catalogueSearch(search, results, url, pick, none, keep) {
    var timer = null, asked = 0;
    function show(products) {
      results.innerHTML = "";
      products.filter(keep || function () { return true; }).forEach(function (p) {
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button";
        var name = document.createElement("span");
        name.textContent = p.title;
        var meta = document.createElement("small");
        meta.textContent = [p.sku, p.price].filter(Boolean).join(" · ");
        b.appendChild(name); b.appendChild(meta);
        b.addEventListener("click", function () {
          pick(p);
          results.innerHTML = ""; search.value = ""; search.focus();
        });
        li.appendChild(b); results.appendChild(li);
      });
      if (!results.children.length) {
        var hint = document.createElement("li");
        hint.className = "hint";
        hint.textContent = none;
        results.appendChild(hint);
      }
    }
    search.addEventListener("input", function () {
      clearTimeout(timer);
      var q = search.value.trim();
      if (!q) { results.innerHTML = ""; return; }
      timer = setTimeout(function () {
        var mine = ++asked;
        fetch(url + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { products: [] }; })
          .then(function (data) { if (mine === asked) show(data.products || []); })
          .catch(function () { /* the page works without the search */ });
      }, 200);
    });
    search.addEventListener("keydown", function (e) { if (e.key === "Enter") e.preventDefault(); });
  }
  window.orderhubCatalogueSearch = catalogueSearch;

  function setupOrderForm(form) {
    var lines = $("[data-lines]", form);
    var template = document.getElementById("line-template");
    var totalOut = $("[data-total]", form);
    var next = $all("[data-line]", lines).length;

    function updateTotal() {
      var sum = 0;
      $all("[data-line]", lines).forEach(function (line) {
        var qty = parseInt($("[data-field=quantity]", line).value, 10);
        var price = cents($("[data-field=price]", line).value);
        if (qty > 0 && price !== null) sum += qty * price;
      });
      totalOut.textContent = (sum / 100).toFixed(2);
    }

    function fill(line, values) {
      Object.keys(values).forEach(function (key) {
        var input = $("[data-field=" + key + "]", line);
        if (input) input.value = values[key] == null ? "" : values[key];
      });
      $("[data-sku-label]", line).textContent = values.sku || "";
    }

    function addLine(values) {
      // Use the empty last row, if there is one, before adding another.
      var rows = $all("[data-line]", lines);
      var last = rows[rows.length - 1];
      if (last && !$("[data-field=title]", last).value && !$("[data-field=price]", last).value) {
        if (values) fill(last, values);
        updateTotal();
        return last;
      }
      var holder = document.createElement("div");
      holder.innerHTML = template.innerHTML.replace(/__i__/g, String(next++));
      var line = holder.firstElementChild;
      lines.appendChild(line);
      if (values) fill(line, values);
      updateTotal();
      return line;
    }

    lines.addEventListener("input", updateTotal);
    lines.addEventListener("click", function (e) {
      var button = e.target.closest("[data-remove]");
      if (!button) return;
      var line = button.closest("[data-line]");
      if ($all("[data-line]", lines).length > 1) line.remove();
      else $all("input", line).forEach(function (i) { i.value = i.dataset.field === "quantity" ? "1" : ""; });
      updateTotal();
    });

    var add = $("[data-add-line]", form);
    add.hidden = false;
    add.addEventListener("click", function () { $("[data-field=title]", addLine(null)).focus(); });

    var picker = $("[data-picker]", form);
    picker.hidden = false;
    catalogueSearch($("[data-search]", form), $("[data-results]", form), form.dataset.products,
      function (p) {
        addLine({ title: p.title, sku: p.sku, variant_id: p.variant_id, product_id: p.product_id,
                  variant_title: p.variant_title, quantity: "1", price: p.price || "" });
      }, "Nothing found: add it as a custom item.");

    keepDraft(form, addLine, updateTotal);

    // One tap, one request: the form token makes repeats harmless, this makes them rare.
    form.addEventListener("submit", function () {
      setTimeout(function () { $all("[data-submit]", form).forEach(function (b) { b.disabled = true; }); }, 0);
    });
    updateTotal();
  }

  // Never lose what was typed (issue 22): the form's fields are kept in this browser while
  // they are typed, and put back when the form opens empty again: after a session ended
  // (Save → sign in → the form), after Open and Back, after the network dropped. The
  // "saved" page and signing out forget them.
  var DRAFT = "orderhub:order-draft";
  var TEXT = ["customer_name", "phone", "email", "address", "note", "chat_contact"];
  var CHOICE = ["channel", "delivery_method"];
  var LINE = ["title", "sku", "variant_id", "product_id", "variant_title", "quantity", "price"];

  function store() { try { return window.localStorage; } catch (e) { return null; } }

  function readDraft(form) {
    var data = { fields: {}, lines: [] }, typed = false;
    TEXT.forEach(function (name) {
      var el = form.elements[name];
      if (el && el.value) { data.fields[name] = el.value; typed = true; }
    });
    CHOICE.forEach(function (name) {
      var el = $("input[name=" + name + "]:checked", form);
      if (el) data.fields[name] = el.value;
    });
    $all("[data-line]", form).forEach(function (line) {
      var row = {};
      LINE.forEach(function (f) { var el = $("[data-field=" + f + "]", line); row[f] = el ? el.value : ""; });
      if (row.title || row.price) { data.lines.push(row); typed = true; }
    });
    return typed ? data : null;
  }

  function keepDraft(form, addLine, updateTotal) {
    var keep = store();
    if (!keep) return;
    var blank = !readDraft(form) && !document.querySelector("[aria-invalid=true], #form-notice");
    var saved = null;
    try { saved = JSON.parse(keep.getItem(DRAFT) || "null"); } catch (e) { saved = null; }
    if (blank && saved) {
      Object.keys(saved.fields || {}).forEach(function (name) {
        if (CHOICE.indexOf(name) >= 0) {
          var choice = $("input[name=" + name + "][value='" + String(saved.fields[name]).replace(/'/g, "") + "']", form);
          if (choice) choice.checked = true;
        } else if (TEXT.indexOf(name) >= 0 && form.elements[name]) {
          form.elements[name].value = saved.fields[name];
        }
      });
      (saved.lines || []).forEach(function (row) { addLine(row); });
      updateTotal();
      var note = document.createElement("p");
      note.className = "match";
      note.id = "draft-restored";
      note.setAttribute("role", "status");
      note.textContent = "What you typed before is back. ";
      var fresh = document.createElement("button");
      fresh.type = "button";
      fresh.className = "link-dark";
      fresh.textContent = "Start afresh";
      fresh.addEventListener("click", function () { keep.removeItem(DRAFT); window.location.reload(); });
      note.appendChild(fresh);
      form.insertAdjacentElement("beforebegin", note);
    }
    var save = function () {
      var data = readDraft(form);
      if (data) keep.setItem(DRAFT, JSON.stringify(data)); else keep.removeItem(DRAFT);
    };
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    form.addEventListener("click", function () { setTimeout(save, 0); });  // picked products
  }

  function forgetDraft() {
    var keep = store();
    if (keep) keep.removeItem(DRAFT);
  }

  function setupCopy() {
    $all("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = $(button.dataset.copy);
        input.select();
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
        } else { document.execCommand("copy"); done(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("order-form");
    if (form) setupOrderForm(form);
    // Saved: the draft is done with. Signing out: nothing typed stays on the device.
    if (document.getElementById("order-number") || document.getElementById("invoice-url")) forgetDraft();
    var signout = document.querySelector("form.signout");
    if (signout) signout.addEventListener("submit", forgetDraft);
    // Coming back with mistakes: take the manager straight to the first one.
    var bad = document.querySelector("[aria-invalid=true]");
    if (bad) { bad.scrollIntoView({ block: "center" }); bad.focus({ preventScroll: true }); }
    setupCopy();
  });
})();
