// The order page's "Edit items" (issue 22): − / + steppers, items added from the catalogue
// (the order form's /products search), and the new total before Save. The server is the
// truth: it prices added items from the catalogue and recomputes the total itself.
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function cents(text) {
    var n = parseFloat(String(text || "0").replace(/,/g, ""));
    return isNaN(n) ? 0 : Math.round(n * 100);
  }
  function qty(input) {
    var t = String(input.value || "").trim();
    return /^\d{1,3}$/.test(t) ? parseInt(t, 10) : null;
  }
  var MAX_ADDED = 10;

  function setup(form) {
    var lines = $("[data-item-lines]", form);
    var added = $("[data-item-added]", form);
    var out = $("[data-items-total]", form);
    var was = 0;
    $all("[data-item]", lines).forEach(function (li) {
      was += cents(li.dataset.unit) * parseInt(li.dataset.was, 10) - cents(li.dataset.discount);
    });
    var base = cents(form.dataset.total) - was;  // delivery, tax and order discounts stay

    function update() {
      var sum = 0, bad = false;
      $all("[data-item]", form).forEach(function (li) {
        var q = qty($("[data-qty]", li));
        if (q === null) { bad = true; return; }
        var before = parseInt(li.dataset.was || "0", 10);
        var discount = before ? Math.round(cents(li.dataset.discount) * q / before) : 0;
        sum += cents(li.dataset.unit) * q - discount;
      });
      out.textContent = bad ? "—" : ((base + sum) / 100).toFixed(2);
    }

    form.addEventListener("click", function (e) {
      var b = e.target.closest("[data-step]");
      if (!b) return;
      var input = $("[data-qty]", b.closest("[data-item]"));
      var q = qty(input) || 0;
      input.value = String(Math.max(0, Math.min(999, q + parseInt(b.dataset.step, 10))));
      update();
    });
    form.addEventListener("input", update);

    function add(p) {
      var n = $all("[data-item]", added).length;
      if (n >= MAX_ADDED) return;
      var li = document.createElement("li");
      li.className = "item-edit";
      li.setAttribute("data-item", "");
      li.dataset.unit = p.price || "0";
      li.dataset.discount = "0";
      li.dataset.was = "0";
      var label = document.createElement("label");
      label.className = "item-name";
      label.htmlFor = "add-" + n + "-quantity";
      label.textContent = p.title + (p.sku ? " " + p.sku : "");
      var small = document.createElement("small");
      small.textContent = (p.price || "") + " each (new)";
      label.appendChild(small);
      var hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "add-" + n + "-variant_id"; hidden.value = p.variant_id;
      var stepper = document.createElement("span");
      stepper.className = "stepper";
      [["-1", "−", "One fewer"], null, ["1", "+", "One more"]].forEach(function (spec) {
        if (spec === null) {
          var input = document.createElement("input");
          input.id = "add-" + n + "-quantity"; input.name = input.id; input.value = "1";
          input.inputMode = "numeric"; input.maxLength = 3; input.setAttribute("data-qty", "");
          stepper.appendChild(input);
          return;
        }
        var b = document.createElement("button");
        b.type = "button"; b.className = "step secondary"; b.dataset.step = spec[0];
        b.textContent = spec[1]; b.setAttribute("aria-label", spec[2]);
        stepper.appendChild(b);
      });
      li.appendChild(label); li.appendChild(hidden); li.appendChild(stepper);
      added.appendChild(li);
      update();
    }

    var picker = $("[data-items-picker]", form);
    // form.js (every page) holds the catalogue search; only items with a variant and a
    // price can be added to an order that exists. (A phone still holding an older form.js
    // keeps the steppers; the search comes with the next shell.)
    if (window.orderhubCatalogueSearch) {
      picker.hidden = false;
      window.orderhubCatalogueSearch($("[data-search]", picker), $("[data-results]", picker),
        form.dataset.products, add, "Nothing found in the catalogue.",
        function (p) { return p.variant_id && p.price; });
    }
    form.addEventListener("submit", function () {
      setTimeout(function () { $("#save-items", form).disabled = true; }, 0);
    });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-items-form]");
    if (form) setup(form);
  });
})();
