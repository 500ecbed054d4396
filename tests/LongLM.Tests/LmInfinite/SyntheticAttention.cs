using LongLM.Kernels;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Rope;

namespace LongLM.Tests.LmInfinite;

/// <summary>
/// algorithms.md section 7's common synthetic inputs (d = 4, one head, base 1e4, so inv_freq = [1, 0.01],
/// half-split) run through the runtime's attention block (AttentionBlock + KvCache) in chunks.
/// </summary>
internal static class SyntheticAttention
{
    public const int D = 4;

    public static float Q(int i, int c) => MathF.Sin(0.7f * i + 1.3f * c + 0.1f);
    public static float K(int i, int c) => MathF.Cos(0.5f * i - 0.9f * c + 0.2f);
    public static float V(int i, int c) => MathF.Sin(0.3f * i + 0.5f * c) + 0.1f * c;

    public static float[] Rows(Func<int, int, float> f, int from, int count)
    {
        var result = new float[count * D];
        for (int r = 0; r < count; r++)
            for (int c = 0; c < D; c++) result[r * D + c] = f(from + r, c);
        return result;
    }

    public static readonly RopeFrequencies Frequencies = new(RopeFrequencies.Base(10000, D), 1f);

    /// <summary>Runs positions [0, n) in chunks of the given sizes (repeating the last) and returns every output row [n, 4].</summary>
    public static float[] Run(IBackend backend, AttentionPolicy policy, int n, int[] chunks, int layer = 0, long firstPosition = 0)
    {
        using var attention = new AttentionBlock(backend, policy, new PositionalEncoding.Rotary(Frequencies, RopePairing.HalfSplit, D), heads: 1, kvHeads: 1, headDim: D);
        using var cache = new KvCache(backend, layers: layer + 1, kvHeads: 1, headDim: D, policy, firstPosition);
        using var scratch = attention.CreateScratch();
        var output = new float[n * D];
        int done = 0, c = 0;
        while (done < n)
        {
            int size = Math.Min(chunks[Math.Min(c++, chunks.Length - 1)], n - done);
            using var q = backend.Allocate(size * D);
            using var k = backend.Allocate(size * D);
            using var v = backend.Allocate(size * D);
            using var o = backend.Allocate(size * D);
            backend.Upload(Rows(Q, done, size), q);
            backend.Upload(Rows(K, done, size), k);
            backend.Upload(Rows(V, done, size), v);
            // Each chunk is its own call here (its last row is a top-k row), as an incremental caller would run it.
            attention.Begin(scratch, cache, size, cache.TokenCount + size, lastChunk: true);
            for (int l = 0; l <= layer; l++)
            {
                // Every layer sees the same inputs; only `layer` is read back (top-k depends on the layer index).
                if (l > 0)
                {
                    backend.Upload(Rows(Q, done, size), q);
                    backend.Upload(Rows(K, done, size), k);
                }
                attention.Run(l, scratch, cache, q, k, v, o);
            }
            attention.End(scratch, cache);
            backend.Download(o, output.AsSpan(done * D, size * D));
            done += size;
        }
        return output;
    }

    public static float[] Row(float[] all, int row) => all.AsSpan(row * D, D).ToArray();
}
