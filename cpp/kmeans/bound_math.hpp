// The arithmetic of the bounds, with its rounding margins: why a row or a unit of centers that
// a bound "proves" would keep its label in a Lloyd pass, bit for bit. Used by the bounds
// (hamerly.cpp, grouped.cpp, drift.cpp: generic code) and by the chunk kernels (isa/*.cpp,
// compiled per instruction set), so everything here is in an unnamed namespace (see chunk.hpp).
//
// A Lloyd pass chooses argmin_c s(x, c), where s is the float32 score |c|^2 - 2 x.c (see
// isa/simd.hpp). Against the exact value t(x, c) = d(x, c)^2 - |x|^2 it errs by at most
//
//     E(x) = a + b |x|,   a = 1.1 * 2.1u * cmax^2,   b = 1.1 * (2 g + 2.1u) * cmax,
//
// with u = 2^-24 and cmax the largest center norm: u |c|^2 from rounding |c|^2 to float,
// g |x||c| twice for the doubled dot product (g: the relative bound of a d-term dot product,
// below), u |s| for the subtraction (about u |c|^2 + 2u |x||c|); 2.1u rather than 2u for the
// second-order terms, and 10% slack (1.1) for the double arithmetic of the bounds themselves.
// So if a row's current center a is at distance <= U and every other center at distance >= L,
// with U^2 + 2 E(x) < L^2, then s(x, a) < s(x, c) for every c != a, and the pass would choose
// a again: the row keeps its label without being scored (proves() below).
//
// U is the row's computed distance to a, inflated by the rounding bound of a computed squared
// distance (distance_error). L is a lower bound carried from the row's last full scoring: the
// second smallest score plus |x|^2, less E, less how far the centers moved since (drifts); or
// gap(a) - U by the triangle inequality. Distances, drifts and gaps are computed in double from
// the float32 values and rounded in the safe direction with kUp / kDown.
#pragma once

#include <cmath>

#include "chunk.hpp"

namespace kmeans {

// The margin E(x) = constant + slope |x| (plain data: outside the unnamed namespace below, so
// that classes of the generic code can hold one).
struct ScoreError {
    double constant;  // a
    double slope;     // b
};

namespace {

// u: the unit roundoff of float32.
constexpr double kUnit = 0x1p-24;

// Relative slack for the bounds' own double arithmetic (square roots, sums of a few terms, and
// sums of d squares such as |x|^2 or a drift, whose relative error is below (d + 1) 2^-53,
// 1e-12 up to d ~ 9000): values that must not be underestimated are multiplied by kUp, those
// that must not be overestimated by kDown.
constexpr double kSlack = 1e-12;
constexpr double kUp = 1.0 + kSlack;
constexpr double kDown = 1.0 - kSlack;

// The 10% slack on each margin, and the units of u in the |c|^2 and subtraction terms of E
// (2, plus 0.1 for the second-order terms): see the top of this file.
constexpr double kMarginSlack = 1.1;
constexpr double kScoreUnits = 2.1;

// g = (d + kDotExtra) u / (1 - (d + kDotExtra) u): a d-term dot product, in any order, with or
// without fused multiply-adds, errs by at most gamma_d = d u / (1 - d u) times sum |x_j c_j|
// (each product goes through at most d roundings); 2 units to spare.
constexpr double kDotExtra = 2.0;

// A computed squared distance sum (x_j - c_j)^2 (isa/simd.hpp: squared_distance) errs by at
// most gamma_(d + 2) of the exact one, relatively, since all its terms are non-negative: 2
// roundings from the rounded difference squared, 1 for the product, and at most d - 1
// additions on any term's way through the summation tree (additions of exact zeros, as in the
// unused lanes, are exact). The margin uses d + kDistanceExtra = d + 5, 3 units to spare, and
// 10% slack (changing it would change which rows the bounds settle, never the results).
constexpr double kDistanceExtra = 5.0;

// gamma_m = m u / (1 - m u) for m = d + extra.
inline double gamma_of(index_t d, double extra) {
    const double m = (static_cast<double>(d) + extra) * kUnit;
    return m / (1.0 - m);
}

// exact squared distance <= computed one * (1 + distance_error(d)).
inline double distance_error(index_t d) { return kMarginSlack * gamma_of(d, kDistanceExtra); }

// E(x) = a + b |x| for centers whose largest squared norm is cmax2 (computed in double, the
// caller has not yet rounded it up), in d dimensions.
inline ScoreError score_error_margins(double cmax2, index_t d) {
    cmax2 *= kUp;
    const double cmax = std::sqrt(cmax2) * kUp;
    const double g = gamma_of(d, kDotExtra);
    return {kMarginSlack * kScoreUnits * kUnit * cmax2,
            kMarginSlack * (2.0 * g + kScoreUnits * kUnit) * cmax};
}

// E(x) for a row with |x|^2 = x_sqnorm.
inline double score_error(double constant, double slope, double x_sqnorm) {
    return constant + slope * std::sqrt(x_sqnorm);
}

// What a lower bound L must beat for a row whose distance to its center is at most U: L^2 >
// U^2 + 2 E(x).
inline double proof_limit(double upper, double error) { return upper * upper + 2.0 * error; }

// "The bound proves it": every center the bound covers scores worse than the row's own.
inline bool proves(double bound, double limit) { return bound > 0.0 && limit < bound * bound; }

// U from a computed squared distance: the exact distance is at most this.
inline double upper_bound(float sq_dist, double distance_error) {
    return std::sqrt(static_cast<double>(sq_dist) * (1.0 + distance_error));
}

// A carried upper bound after the center moved by up to drift (rounded up).
inline double moved_upper_bound(double upper, double drift) { return (upper + drift) * kUp; }

// The lower bound on distances given by a score: exact d^2 >= score + |x|^2 - E(x).
inline double lower_bound(float score, double x_sqnorm, double error) {
    const double low2 = static_cast<double>(score) + x_sqnorm - error;
    return low2 > 0.0 ? std::sqrt(low2) : 0.0;
}

// A lower bound stored as a float, rounded down (0 for v <= 0 and NaN).
inline float round_down(double v) {
    if (!(v > 0.0)) return 0.0f;
    float f = static_cast<float>(v);
    if (static_cast<double>(f) > v) f = nextafterf(f, 0.0f);
    return f;
}

}  // namespace
}  // namespace kmeans
