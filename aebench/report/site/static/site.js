// aebench site: sort a table by a clicked header; filter a board's rows by model tag.
// It only reorders and hides rows: it never writes markup, and no record text passes
// through it.
"use strict";

// a cell's sort key: its data-sort (a metric's mean; "" where there is none) or its text
function sortKey(cell) {
  if (!cell) return "";
  const key = cell.dataset.sort;
  return key === undefined ? cell.textContent.trim() : key;
}

// sort the table's body by the header's column: ascending first, then each click flips it;
// empty cells stay last either way; equal keys keep their order
function sortBy(table, th) {
  const column = th.cellIndex;
  const up = th.getAttribute("aria-sort") !== "ascending";
  for (const other of th.parentElement.cells) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", up ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const keys = rows.map((row) => sortKey(row.cells[column]));
  const numeric = keys.every((k) => k === "" || Number.isFinite(Number(k.replace(/,/g, ""))));
  const value = (k) => (numeric ? Number(k.replace(/,/g, "")) : k);
  const order = rows.map((_, i) => i);
  order.sort((a, b) => {
    const x = keys[a];
    const y = keys[b];
    if (x === "" || y === "") return (x === "") - (y === "") || a - b;
    const c = numeric ? value(x) - value(y) : x.localeCompare(y);
    return (up ? c : -c) || a - b;
  });
  for (const i of order) body.appendChild(rows[i]);
}

// show only the rows whose model carries the chosen tag (all rows for "")
function filterByTag(select) {
  const table = document.getElementById(select.dataset.table);
  for (const row of table.tBodies[0].rows) {
    const tags = JSON.parse(row.dataset.tags || "[]");
    row.hidden = select.value !== "" && !tags.includes(select.value);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // the whole header cell sorts (a tall header row leaves room around its button); the button
  // keeps it reachable by keyboard, and its click bubbles to the cell
  for (const th of document.querySelectorAll("table.sortable thead th")) {
    if (th.querySelector("button")) th.addEventListener("click", () => sortBy(th.closest("table"), th));
  }
  for (const select of document.querySelectorAll("select.tag-filter")) {
    select.addEventListener("change", () => filterByTag(select));
    filterByTag(select);  // a reloaded page keeps the browser's choice
  }
});
