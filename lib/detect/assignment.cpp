#include "lib/detect/assignment.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/core/error.h"

namespace zoo::detect {

namespace {

// n <= m rows to columns. u, v: the dual potentials, kept so that cost(i, j) - u_i - v_j >= 0
// with equality on every assigned pair (the reduced cost); each row in turn joins through the
// shortest augmenting path in reduced costs (Dijkstra over the columns), and the potentials
// move by the path lengths. 1-based inside, column 0 a virtual start.
std::vector<int64_t> assign_rows(const std::vector<double>& cost, int64_t n, int64_t m, bool transposed) {
  const double inf = std::numeric_limits<double>::infinity();
  // A cost too large for any real matcher term, yet finite: its sums stay ordered.
  const double big = 1e15;
  auto at = [&](int64_t i, int64_t j) {  // 0-based row i, column j of the (possibly transposed) problem
    const double c = transposed ? cost[static_cast<size_t>(j * n + i)] : cost[static_cast<size_t>(i * m + j)];
    return std::isfinite(c) ? c : big;
  };
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0), min_to(m + 1);
  std::vector<int64_t> row_of(m + 1, 0), previous(m + 1, 0);  // row_of[j]: the row on column j (0: none)
  std::vector<char> visited(m + 1);
  for (int64_t i = 1; i <= n; ++i) {
    row_of[0] = i;
    int64_t column = 0;
    std::fill(min_to.begin(), min_to.end(), inf);
    std::fill(visited.begin(), visited.end(), 0);
    do {  // grow the tree of alternating paths until it reaches a free column
      visited[column] = 1;
      const int64_t row = row_of[column];
      double delta = inf;
      int64_t next = 0;
      for (int64_t j = 1; j <= m; ++j) {
        if (visited[j]) continue;
        const double reduced = at(row - 1, j - 1) - u[row] - v[j];
        if (reduced < min_to[j]) min_to[j] = reduced, previous[j] = column;
        if (min_to[j] < delta) delta = min_to[j], next = j;
      }
      if (next == 0) throw Error("assignment: no augmenting path (a cost matrix with no finite assignment)");
      for (int64_t j = 0; j <= m; ++j) {
        if (visited[j]) u[row_of[j]] += delta, v[j] -= delta;
        else min_to[j] -= delta;
      }
      column = next;
    } while (row_of[column] != 0);
    do {  // flip the path: every column on it takes the row before it
      const int64_t before = previous[column];
      row_of[column] = row_of[before];
      column = before;
    } while (column != 0);
  }
  std::vector<int64_t> column_of(static_cast<size_t>(n), -1);
  for (int64_t j = 1; j <= m; ++j)
    if (row_of[j] != 0) column_of[static_cast<size_t>(row_of[j] - 1)] = j - 1;
  return column_of;
}

}  // namespace

std::vector<int64_t> solve_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || static_cast<int64_t>(cost.size()) != rows * cols)
    throw Error("assignment: a cost matrix of " + std::to_string(cost.size()) + " entries is not " + std::to_string(rows) + " x " +
                std::to_string(cols));
  if (rows == 0 || cols == 0) return std::vector<int64_t>(static_cast<size_t>(rows), -1);
  if (rows <= cols) return assign_rows(cost, rows, cols, false);
  // More rows than columns: assign the columns to rows in the transposed problem, then invert.
  const auto row_of_column = assign_rows(cost, cols, rows, true);
  std::vector<int64_t> column_of(static_cast<size_t>(rows), -1);
  for (int64_t j = 0; j < cols; ++j) column_of[static_cast<size_t>(row_of_column[static_cast<size_t>(j)])] = j;
  return column_of;
}

}  // namespace zoo::detect
