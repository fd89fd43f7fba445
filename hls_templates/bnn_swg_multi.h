// bnn_swg_multi.h -- the multi-position sliding-window generator (bnnfpga.swg_multi): a
// convolution whose SIMD is P times its input channels (P > 1) reads its window P kernel
// positions per word, so no width converter follows the window generator.  A project
// includes this header only when a layer uses it.
#pragma once

// ---------------------------------------------------------------------------
// Sliding-window generator, stride S, P kernel positions per output word: an H x W input
// of one PW-bit word per pixel (all its channels) becomes, for every output pixel
// (oy, ox), OH = (H + 2*PAD - K)/S + 1 rows and OW columns likewise, the K*K/P words of
// the window whose top-left input pixel is (oy*S - PAD, ox*S - PAD): word j holds the
// kernel positions j*P .. j*P + P - 1 in (ky, kx) raster order, position j*P + i at bits
// [i*PW +: PW], i.e. the IR's (ky, kx, c) weight order in SIMD-lane words.  Padding
// positions read as the zero pixel (bit 0 = -1, or q = 0).  The line buffer keeps the
// last K input rows (row y in rows[y % K]), read just before the first window that
// needs them, as in bnn_swg_stride; rows no window touches are read and dropped at the
// frame's end.  Banking: the P positions of a word lie in at most K distinct rows
// (dim 1, partitioned completely) and, per row, in at most NBC = min(P, K) consecutive
// columns, distinct modulo NBC (dim 2, partitioned cyclically by NBC): the P reads of
// one word hit P distinct memories, so the word loop pipelines at II=1.
template <unsigned K, unsigned S, unsigned H, unsigned W, unsigned P, unsigned PAD, unsigned PW, unsigned NBC>
void bnn_swg_multi(hls::stream<ap_uint<PW> >& in, hls::stream<ap_uint<P * PW> >& out, unsigned frames) {
  const unsigned OH = (H + 2 * PAD - K) / S + 1;
  const unsigned OW = (W + 2 * PAD - K) / S + 1;
  const unsigned NCH = K * K / P;
  ap_uint<PW> rows[K][W];
#pragma HLS ARRAY_PARTITION variable=rows complete dim=1
#pragma HLS ARRAY_PARTITION variable=rows cyclic factor=NBC dim=2
  for (unsigned f = 0; f < frames; f++) {
    unsigned rows_read = 0;
    for (unsigned oy = 0; oy < OH; oy++) {
      // the window's bottom row, clipped to the image
      unsigned need = oy * S + K - 1 - PAD;
      if (need > H - 1) need = H - 1;
      for (; rows_read <= need; rows_read++) {
        for (unsigned x = 0; x < W; x++) {
#pragma HLS PIPELINE II=1
          rows[rows_read % K][x] = in.read();
        }
      }
      for (unsigned ox = 0; ox < OW; ox++) {
        for (unsigned j = 0; j < NCH; j++) {
#pragma HLS PIPELINE II=1
          ap_uint<P * PW> word = 0;
          for (unsigned i = 0; i < P; i++) {
#pragma HLS UNROLL
            const unsigned fp = j * P + i, ky = fp / K, kx = fp % K;
            const int iy = (int)(oy * S + ky) - (int)PAD, ix = (int)(ox * S + kx) - (int)PAD;
            ap_uint<P * PW> v = 0;
            if (iy >= 0 && iy < (int)H && ix >= 0 && ix < (int)W) v = rows[iy % K][ix];
            word |= v << (i * PW);
          }
          out.write(word);
        }
      }
    }
    for (; rows_read < H; rows_read++) {  // rows below the last window
      for (unsigned x = 0; x < W; x++) {
#pragma HLS PIPELINE II=1
        in.read();
      }
    }
  }
}
