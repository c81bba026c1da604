// The minimum-cost assignment of rows to columns (the linear sum assignment problem; what
// scipy.optimize.linear_sum_assignment solves), by the Hungarian method with potentials and
// shortest augmenting paths (Kuhn 1955; Jonker and Volgenant 1987's form): O(n^2 m) for n <= m.
// DETR's matcher pairs each ground-truth object with one of the N predictions this way.
#pragma once
#include <cstdint>
#include <vector>

namespace zoo::detect {

// cost: rows x cols, row-major. Returns the column of each row, or -1 for a row left without
// one (when rows > cols, exactly rows - cols of them): every row is assigned when rows <= cols,
// every column otherwise, and the sum of the chosen costs is the least possible. A non-finite
// cost (a NaN from a diverged model) is treated as a very large one, so the assignment stays
// defined and the loss built on it shows the NaN.
std::vector<int64_t> solve_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols);

}  // namespace zoo::detect
