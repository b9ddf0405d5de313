// aigsec: progressive enhancement only; every page works without it.
document.addEventListener("change", (event) => {
  // The team switcher submits on change for keyboard and mouse users alike.
  const select = event.target.closest(".team-switch select");
  if (select) select.form.requestSubmit();
});

document.addEventListener("htmx:afterSettle", (event) => {
  // A control opened from its summary replaces that summary: keep the keyboard focus where
  // the user was (on the control's title) instead of losing it to the top of the page.
  const source = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!source || !source.matches(".control-summary details")) return;
  const title = document.querySelector(`${source.getAttribute("hx-target")} .control-title`);
  if (title) title.focus();
});

// The evidence form: only the chosen kind's field (file, link or note) is shown. Without
// JavaScript all three show, each saying which kind it is for.
function showKindFields(form) {
  const chosen = form.querySelector('input[name="kind"]:checked');
  if (!chosen) return;
  form.querySelectorAll(".kind-field[data-kind]").forEach((el) => {
    el.hidden = el.dataset.kind !== chosen.value;
  });
}

// "Supports these controls": a filter box over the checkboxes. Each typed word must start a
// word of the control's label, so "2.1" finds 2.1.x (not 1.2.1) and "supply" finds the
// supply-chain controls. Ticked controls always stay visible.
function filterPicker(input) {
  const picker = input.closest(".control-picker");
  const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  picker.querySelectorAll(".picker-list li").forEach((li) => {
    const tokens = li.dataset.search.split(/[\s·,:;()"“”]+/).filter(Boolean);
    const match = words.every((w) => tokens.some((t) => t.startsWith(w)));
    const ticked = li.querySelector("input").checked;
    li.hidden = !(match || ticked);
    if (!li.hidden) shown += 1;
  });
  const count = picker.querySelector(".picker-count");
  if (count) count.textContent = words.length ? `${shown} shown` : "";
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.evidence-form").forEach(showKindFields);
  document.querySelectorAll(".control-picker .picker-filter").forEach((el) => {
    el.hidden = false;
  });
});

document.addEventListener("change", (event) => {
  const form = event.target.closest("form.evidence-form");
  if (form && event.target.name === "kind") showKindFields(form);
});

document.addEventListener("input", (event) => {
  if (event.target.matches(".picker-filter input")) filterPicker(event.target);
});
