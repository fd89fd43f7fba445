// bnn_shared.h -- the shared-filter datapath of a binary K x K convolution
// (filter repetitions, Hubara et al. supp. C; bnnfpga.filter_share).
//
//   bnn_share_gather  window words (K2*CG words of SIMD channels, (pos, g) order)
//                     -> CG channel-group words of K2*SIMD bits
//                     (bit pos*SIMD + s = position pos of channel g*SIMD + s)
//   bnn_mvtu_shared   per (neuron fold nf, channel group g) step: the popcounts
//                     of the U filter classes of every channel of group g, once;
//                     each PE selects one per channel (complemented: K2 - p)
//                     and accumulates; thresholds as bnn_mvtu.
//
// The RTL twins are rtl_templates/bnn_share_gather.sv and bnn_mvtu_shared.sv.
#pragma once

#include "bnn_library.h"

// K2*CG words in per window, CG words out (group g leaves with its last-position word).
template <unsigned K2, unsigned CG, unsigned SIMD, unsigned PIX>
void bnn_share_gather(hls::stream<ap_uint<SIMD> >& in, hls::stream<ap_uint<K2 * SIMD> >& out, unsigned frames) {
  ap_uint<SIMD> held[K2 - 1][CG];
#pragma HLS ARRAY_PARTITION variable=held complete dim=1
  unsigned pos = 0, g = 0;
  const unsigned long total = (unsigned long)frames * PIX * K2 * CG;
  for (unsigned long i = 0; i < total; i++) {
#pragma HLS PIPELINE II=1
    const ap_uint<SIMD> x = in.read();
    if (pos < K2 - 1) {
      held[pos][g] = x;
    } else {
      ap_uint<K2 * SIMD> w = 0;
      for (unsigned p = 0; p < K2 - 1; p++) {
#pragma HLS UNROLL
        w(SIMD * p + SIMD - 1, SIMD * p) = held[p][g];
      }
      w(K2 * SIMD - 1, (K2 - 1) * SIMD) = x;
      out.write(w);
    }
    if (g == CG - 1) {
      g = 0;
      pos = (pos == K2 - 1) ? 0 : pos + 1;
    } else {
      g++;
    }
  }
}

// Channel s of a group word: its K2 kernel positions as the low bits of an integer.
template <unsigned K2, unsigned SIMD>
inline uint64_t bnn_share_channel(const ap_uint<K2 * SIMD>& x, unsigned s) {
  uint64_t v = 0;
  for (unsigned p = 0; p < K2; p++) {
#pragma HLS UNROLL
    v |= (uint64_t)(unsigned)x[p * SIMD + s] << p;
  }
  return v;
}

// pat[g][s][u]: class u of channel g*SIMD + s (K2 bits, position p at bit p; unused slots 0).
// sel[nf*CG + g][pe][s]: slot index of output channel nf*PE + pe on channel g*SIMD + s;
// flip[...]: 1 when that output uses the complement.  CG*NF cycles per window, II=1.
template <unsigned SIMD, unsigned K2, unsigned PE, unsigned CG, unsigned NF, unsigned PIX, unsigned U, int ABITS,
          class PT, class ST>
void bnn_mvtu_shared(hls::stream<ap_uint<K2 * SIMD> >& in, hls::stream<ap_uint<PE> >& out, const PT pat[CG][SIMD][U],
                     const ST sel[NF * CG][PE][SIMD], const ap_uint<1> flip[NF * CG][PE][SIMD],
                     const ap_int<ABITS> t[PE][NF], const ap_uint<1> neg[PE][NF], unsigned frames) {
  ap_uint<K2 * SIMD> inbuf[CG];
#ifndef __SYNTHESIS__
  int acc[PE];
#else
  ap_int<ABITS> acc[PE];
#endif
#pragma HLS ARRAY_PARTITION variable=acc complete
  unsigned g = 0, nf = 0;
  const uint64_t mask = (K2 >= 64) ? ~(uint64_t)0 : (((uint64_t)1 << K2) - 1);
  const unsigned long total = (unsigned long)frames * PIX * NF * CG;
  for (unsigned long i = 0; i < total; i++) {
#pragma HLS PIPELINE II=1
    ap_uint<K2 * SIMD> x;
    if (nf == 0) {
      x = in.read();
      inbuf[g] = x;
    } else {
      x = inbuf[g];
    }
    // the class popcounts of the group's channels, shared by every PE
    unsigned pc[SIMD][U];
#pragma HLS ARRAY_PARTITION variable=pc complete dim=0
    for (unsigned s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
      const uint64_t xs = bnn_share_channel<K2, SIMD>(x, s);
      for (unsigned u = 0; u < U; u++) {
#pragma HLS UNROLL
#ifndef __SYNTHESIS__
        pc[s][u] = K2 - (unsigned)__builtin_popcountll((xs ^ (uint64_t)pat[g][s][u]) & mask);
#else
        pc[s][u] = K2 - bnn_popcount<K2>((ap_uint<K2>)((xs ^ (uint64_t)pat[g][s][u]) & mask));
#endif
      }
    }
    const unsigned row = nf * CG + g;
    for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
      int sum = 0;
      for (unsigned s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
        const unsigned v = pc[s][(unsigned)sel[row][pe][s]];
        sum += flip[row][pe][s] ? (int)(K2 - v) : (int)v;
      }
      acc[pe] = (g == 0 ? 0 : (int)acc[pe]) + sum;
    }
    if (g == CG - 1) {
      ap_uint<PE> o;
      for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        const int th = t[pe][nf];
        o[pe] = neg[pe][nf] ? (acc[pe] <= th) : (acc[pe] >= th);
      }
      out.write(o);
      g = 0;
      nf = (nf == NF - 1) ? 0 : nf + 1;
    } else {
      g++;
    }
  }
}
