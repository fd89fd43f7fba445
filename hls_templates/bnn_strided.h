// bnn_strided.h -- the stages of strided convolutions and of max-pools whose kernel
// differs from their stride (bnnfpga.strided).  A project includes it only when its
// network has such a layer; stride-1 convolutions and K == S max-pools keep
// bnn_swg / bnn_maxpool of bnn_library.h.
//
//   bnn_swg_stride   sliding-window generator with a stride S
//   bnn_maxpool_win  binary max-pool, K x K windows every S pixels (overlapping when K > S)
//
// Shapes follow torch: OH = (H + 2*PAD - K)/S + 1 for convolutions, (H - K)/S + 1
// for max-pools (no padding); conventions as in bnn_library.h.
#pragma once

// ---------------------------------------------------------------------------
// Sliding-window generator with stride S: an H x W input with CF words per pixel
// becomes, for every output pixel (oy, ox), the K*K*CF words of the window whose
// top-left input pixel is (oy*S - PAD, ox*S - PAD), in (ky, kx, cf) order.  PAD
// rows/columns of zero words surround the input (bit 0 = -1, or q = 0).  A line
// buffer keeps the last K input rows; input rows are read just before the first
// window that needs them, and rows no window touches (the last ones when
// (H + 2*PAD - K) is not a multiple of S) are read and dropped at the frame's end.
template <unsigned K, unsigned S, unsigned H, unsigned W, unsigned CF, unsigned PAD, unsigned WW>
void bnn_swg_stride(hls::stream<ap_uint<WW> >& in, hls::stream<ap_uint<WW> >& out, unsigned frames) {
  const unsigned OH = (H + 2 * PAD - K) / S + 1;
  const unsigned OW = (W + 2 * PAD - K) / S + 1;
  ap_uint<WW> rows[K][W * CF];
#pragma HLS ARRAY_PARTITION variable=rows complete dim=1
  for (unsigned f = 0; f < frames; f++) {
    unsigned rows_read = 0;
    for (unsigned oy = 0; oy < OH; oy++) {
      // the window's bottom row, clipped to the image
      unsigned need = oy * S + K - 1 - PAD;
      if (need > H - 1) need = H - 1;
      for (; rows_read <= need; rows_read++) {
        for (unsigned x = 0; x < W * CF; x++) {
#pragma HLS PIPELINE II=1
          rows[rows_read % K][x] = in.read();
        }
      }
      for (unsigned ox = 0; ox < OW; ox++) {
        for (unsigned kk = 0; kk < K * K * CF; kk++) {
#pragma HLS PIPELINE II=1
          const unsigned ky = kk / (K * CF), kx = (kk / CF) % K, cf = kk % CF;
          const int iy = (int)(oy * S + ky) - (int)PAD, ix = (int)(ox * S + kx) - (int)PAD;
          ap_uint<WW> v = 0;
          if (iy >= 0 && iy < (int)H && ix >= 0 && ix < (int)W) v = rows[iy % K][ix * CF + cf];
          out.write(v);
        }
      }
    }
    for (; rows_read < H; rows_read++) {  // rows below the last window
      for (unsigned x = 0; x < W * CF; x++) {
#pragma HLS PIPELINE II=1
        in.read();
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Binary max-pool with K x K windows every S pixels, no padding: the OR of each
// window's bits.  Input H x W pixels of CF words each, one word per cycle.  An
// input pixel lies in at most P = ceil(K/S) windows per axis: the horizontal pass
// keeps P partial ORs per word lane group (slot ox mod P), and each window that
// closes there updates one of P rows of partial ORs (slot oy mod P); a word leaves
// when its window's last pixel arrives (at most one per input word).
template <unsigned K, unsigned S, unsigned H, unsigned W, unsigned CF, unsigned WW>
void bnn_maxpool_win(hls::stream<ap_uint<WW> >& in, hls::stream<ap_uint<WW> >& out, unsigned frames) {
  const unsigned OH = (H - K) / S + 1;
  const unsigned OW = (W - K) / S + 1;
  const unsigned P = (K + S - 1) / S;
  ap_uint<WW> hacc[P][CF];
  ap_uint<WW> vacc[P][OW * CF];
#pragma HLS ARRAY_PARTITION variable=hacc complete dim=1
#pragma HLS ARRAY_PARTITION variable=vacc complete dim=1
  for (unsigned f = 0; f < frames; f++) {
    for (unsigned y = 0; y < H; y++) {
      for (unsigned xc = 0; xc < W * CF; xc++) {
#pragma HLS PIPELINE II=1
        const unsigned x = xc / CF, cf = xc % CF;
        const ap_uint<WW> v = in.read();
        // horizontal: windows ox = x/S - d, d < P, that hold column x
        bool hdone = false;
        unsigned hox = 0;
        ap_uint<WW> hres = 0;
        for (unsigned d = 0; d < P; d++) {
#pragma HLS UNROLL
          const unsigned xo = x / S, xs = x % S;
          if (xo >= d && xo - d < OW && xs + d * S <= K - 1) {
            const unsigned slot = (xo - d) % P;
            const ap_uint<WW> a = (d == 0 && xs == 0) ? v : (ap_uint<WW>)(hacc[slot][cf] | v);
            hacc[slot][cf] = a;
            if (xs + d * S == K - 1) {
              hdone = true;
              hox = xo - d;
              hres = a;
            }
          }
        }
        if (!hdone) continue;
        // vertical: windows oy = y/S - d that hold row y, at column hox
        for (unsigned d = 0; d < P; d++) {
#pragma HLS UNROLL
          const unsigned yo = y / S, ys = y % S;
          if (yo >= d && yo - d < OH && ys + d * S <= K - 1) {
            const unsigned slot = (yo - d) % P;
            const ap_uint<WW> a = (d == 0 && ys == 0) ? hres : (ap_uint<WW>)(vacc[slot][hox * CF + cf] | hres);
            vacc[slot][hox * CF + cf] = a;
            if (ys + d * S == K - 1) out.write(a);
          }
        }
      }
    }
  }
}
