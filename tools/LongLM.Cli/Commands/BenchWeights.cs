using LongLM.Kernels;
using LongLM.Models;

namespace LongLM.Cli.Commands;

/// <summary>
/// The weight bytes one decode step reads, as stored (a BF16 weight is read as BF16 and widened in registers): every
/// tensor except the token-embedding table, of which one row is gathered, plus that table again when it is also the
/// output head (tied embeddings); mixture-of-experts tensors count for num_experts_per_tok / num_local_experts of
/// their bytes, the experts a token is routed to. Activations and the KV cache are not counted (bench/LongLM.Bench's
/// decode harness counts the same way). A tensor quantized at load (--quantize) counts its loaded bytes, not its
/// stored ones; a stored tensor loaded as several parts (a fused QKV split per projection) keeps its stored size.
/// </summary>
public static class BenchWeights
{
    /// <summary>Bytes of every tensor as loaded (llama-bench's "size": its file holds the quantized tensors).</summary>
    public static long LoadedBytes(LanguageModel lm)
    {
        var quantized = QuantizedBytes(lm);
        return lm.Weights.Files.SelectMany(f => f.Tensors.Values).Sum(t => quantized.GetValueOrDefault(t.Name, t.End - t.Begin));
    }

    /// <summary>Loaded bytes of the weights quantized at load, by tensor name (empty without --quantize).</summary>
    private static Dictionary<string, long> QuantizedBytes(LanguageModel lm) =>
        lm.Model is DecoderModel decoder
            ? decoder.LoadedWeights.Where(w => w.DType.IsQuantized()).GroupBy(w => w.Name)
                .ToDictionary(g => g.Key, g => { var w = g.First(); return w.DType.RowByteLength(w.Cols) * w.Rows; })
            : [];

    /// <summary>Weight bytes read per decoded token.</summary>
    public static long BytesPerToken(LanguageModel lm)
    {
        var raw = lm.Config.Raw;
        double expertShare = raw.TryGetProperty("num_local_experts", out var e) && raw.TryGetProperty("num_experts_per_tok", out var k)
            && e.TryGetInt32(out int experts) && k.TryGetInt32(out int perToken) && experts > 0
            ? Math.Min(1.0, (double)perToken / experts) : 1.0;
        var quantized = QuantizedBytes(lm);
        double bytes = 0;
        foreach (var t in lm.Weights.Files.SelectMany(f => f.Tensors.Values))
        {
            long size = quantized.GetValueOrDefault(t.Name, t.End - t.Begin);
            if (LoadQuantization.IsEmbedding(t.Name))
            {
                long row = t.Shape.Length > 0 && t.Shape[0] > 0 ? size / t.Shape[0] : 0;
                bytes += row + (lm.Config.TieWordEmbeddings ? size : 0);
            }
            else
            {
                bytes += t.Name.Contains(".experts.", StringComparison.Ordinal) ? size * expertShare : size;
            }
        }
        return (long)bytes;
    }
}
