// The CRM app's small behaviours; the pages work without them.
// 1. The orders list refreshes itself (page one): new orders appear without a reload.
// 2. On the order form, a typed phone that belongs to a known customer is offered.
(function () {
  "use strict";
  var base = (document.querySelector("link[href$='/assets/crm.css']") || {}).getAttribute
    ? document.querySelector("link[href$='/assets/crm.css']").getAttribute("href").replace(/\/assets\/crm\.css$/, "")
    : "";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var live = document.getElementById("live");
  if (live && live.dataset.poll) {
    // The page polls the CRM's change marker; the server reads BigQuery only when it moved
    // (nothing changed: no query), and no poll runs while the tab is hidden.
    var known = null, marker = live.dataset.marker || "", timer = null;
    var rowIds = function () {
      return Array.prototype.map.call(document.querySelectorAll("#order-list a.row"), function (a) {
        return decodeURIComponent(a.getAttribute("href").split("/orders/")[1] || "");
      }).join(",");
    };
    known = rowIds();
    var poll = function () {
      clearTimeout(timer);
      if (document.hidden) return;
      var sep = live.dataset.poll.indexOf("?") < 0 ? "?" : "&";
      fetch(live.dataset.poll + sep + "marker=" + encodeURIComponent(marker),
            { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          marker = data.marker || "";
          if (!data.unchanged) {
            var ids = data.orders.map(function (o) { return o.order_id; }).join(",");
            render(data.orders, ids);
            known = ids;
          }
          live.textContent = "Up to date · " + new Date().toLocaleTimeString();
        })
        .catch(function () { live.textContent = "Could not refresh; retrying in 15 s."; })
        .then(function () { timer = setTimeout(poll, 15000); });
    };
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) clearTimeout(timer); else poll();
    });
    var render = function (orders, ids) {
      var list = document.getElementById("order-list");
      var empty = document.getElementById("order-list-empty");
      if (!list) {
        list = el("ul", "list");
        list.id = "order-list";
        (empty || live).insertAdjacentElement("afterend", list);
        if (empty) empty.remove();
      }
      var old = (known || "").split(",");
      list.textContent = "";
      var day = null;
      orders.forEach(function (o) {
        if (o.day && o.day.key !== day) {
          // The day header, as the server renders it: the day, its count and revenue.
          day = o.day.key;
          var head = el("li", "day");
          head.dataset.day = day;
          var h = el("h2", "day-head");
          h.appendChild(el("span", "day-label", o.day.label));
          h.appendChild(document.createTextNode(" "));
          var sum = el("span", "day-sum");
          sum.appendChild(el("span", "day-count", o.day.count + (o.day.count === 1 ? " order" : " orders")));
          sum.appendChild(document.createTextNode(" · "));
          sum.appendChild(el("span", "day-revenue", o.day.revenue));
          h.appendChild(sum);
          head.appendChild(h);
          list.appendChild(head);
        }
        var a = el("a", "row");
        a.href = base + "/orders/" + encodeURIComponent(o.order_id);
        var main = el("span", "main");
        main.appendChild(el("strong", "", o.name));
        main.appendChild(document.createTextNode(" "));
        main.appendChild(el("span", "pill " + o.status, o.status.replace(/_/g, " ")));
        main.appendChild(document.createTextNode(" "));
        main.appendChild(el("span", "pill stage-chip", o.pipeline || "new"));
        if (old.indexOf(o.order_id) < 0) {
          main.appendChild(document.createTextNode(" "));
          main.appendChild(el("span", "pill new", "new"));
        }
        a.appendChild(main);
        // Every field the server renders, so a refreshed row loses nothing.
        a.appendChild(el("span", "sub", (o.customer || "no name") + (o.phone ? " · " + o.phone : "")));
        var sub = el("span", "sub", o.source_name + " · " + o.created_at + (o.manager ? " · " + o.manager : ""));
        if (o.assigned_to) {
          sub.appendChild(document.createTextNode(" · "));
          sub.appendChild(el("span", "assignee", "→ " + o.assigned_to));
        }
        a.appendChild(sub);
        a.appendChild(el("span", "amount", o.total));
        var li = el("li");
        li.appendChild(a);
        if (o.sync) {  // a CRM order: its Shopify sync, and "Send to Shopify now"
          var said = "Shopify: " + o.sync.label;
          if (o.sync.status === "failed" || o.sync.status === "skipped") said += ": " + o.sync.reason;
          var st = el("span", "sub sync-" + o.sync.status, said);
          st.title = o.sync.reason;
          a.appendChild(st);
          var form = el("form", "send-now");
          form.method = "post";
          form.action = base + "/orders/" + encodeURIComponent(o.order_id) + "/send";
          [["csrf_token", live.dataset.csrf || ""], ["back", "list"]].forEach(function (kv) {
            var input = el("input");
            input.type = "hidden"; input.name = kv[0]; input.value = kv[1];
            form.appendChild(input);
          });
          var button = el("button", "secondary", "Send to Shopify now");
          button.type = "submit";
          form.appendChild(button);
          li.appendChild(form);
        }
        list.appendChild(li);
      });
      live.textContent = "New orders shown.";
    };
    poll();
  }

  var phone = document.getElementById("phone");
  var match = document.getElementById("phone-match");
  if (phone && match) {
    var timer = null;
    phone.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var typed = phone.value.trim();
        if (typed.replace(/\D/g, "").length < 7) { match.hidden = true; return; }
        fetch(base + "/customers/lookup.json?phone=" + encodeURIComponent(typed), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { customer: null }; })
          .then(function (data) {
            var c = data.customer;
            match.textContent = "";
            if (!c) { match.hidden = true; return; }
            match.appendChild(document.createTextNode("Known customer: " + (c.name || "no name") + ". "));
            var use = el("button", "link-dark", "Fill in");
            use.type = "button";
            use.addEventListener("click", function () {
              var name = document.getElementById("customer_name");
              var email = document.getElementById("email");
              if (name && !name.value) name.value = c.name || "";
              if (email && !email.value) email.value = c.email || "";
            });
            var open = el("a", "", "Open");
            open.href = base + "/customers/" + encodeURIComponent(c.key);
            match.appendChild(use);
            match.appendChild(document.createTextNode(" · "));
            match.appendChild(open);
            match.hidden = false;
          })
          .catch(function () { match.hidden = true; });
      }, 350);
    });
  }
})();
