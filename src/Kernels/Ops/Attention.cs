using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>
/// Causal grouped-query attention of a block of queries over a KV cache laid out [slot, kvHead, headDim].
/// Query head h reads KV head h / (Heads / KvHeads), as HF repeat_kv.
/// </summary>
public static class Attention
{
    /// <summary>One (query row, head): scores over slots [0, FirstQuerySlot + row], softmax, weighted sum of values.</summary>
    public static void Head(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        AttentionShape shape, int row, int head, Span<float> scores)
    {
        int hd = shape.HeadDim;
        int kvHead = head / (shape.Heads / shape.KvHeads);
        int stride = shape.KvHeads * hd;
        int count = shape.FirstQuerySlot + row + 1;
        ReadOnlySpan<float> query = q.Slice((row * shape.Heads + head) * hd, hd);
        Span<float> s = scores[..count];
        for (int j = 0; j < count; j++)
            s[j] = TensorPrimitives.Dot(query, keys.Slice(j * stride + kvHead * hd, hd)) * shape.Scale;
        TensorPrimitives.SoftMax(s, s);
        Span<float> o = output.Slice((row * shape.Heads + head) * hd, hd);
        o.Clear();
        for (int j = 0; j < count; j++)
            TensorPrimitives.MultiplyAdd(values.Slice(j * stride + kvHead * hd, hd), s[j], o, o);
    }

    /// <summary>Scalar reference in double precision for every row and head.</summary>
    public static void Reference(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, AttentionShape shape)
    {
        int hd = shape.HeadDim, group = shape.Heads / shape.KvHeads, stride = shape.KvHeads * hd;
        for (int row = 0; row < shape.QueryCount; row++)
            for (int h = 0; h < shape.Heads; h++)
            {
                int kvHead = h / group, count = shape.FirstQuerySlot + row + 1;
                var logits = new double[count];
                double max = double.NegativeInfinity;
                for (int j = 0; j < count; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < hd; c++) dot += (double)q[(row * shape.Heads + h) * hd + c] * keys[j * stride + kvHead * hd + c];
                    logits[j] = dot * shape.Scale;
                    max = Math.Max(max, logits[j]);
                }
                double sum = 0;
                for (int j = 0; j < count; j++) sum += logits[j] = Math.Exp(logits[j] - max);
                for (int c = 0; c < hd; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < count; j++) acc += logits[j] / sum * values[j * stride + kvHead * hd + c];
                    output[(row * shape.Heads + h) * hd + c] = (float)acc;
                }
            }
    }
}
