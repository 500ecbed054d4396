using LongLM.Kernels;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Seeded random buffers for one attention call of <see cref="AttentionShape"/> s: queries (rotary and far), local and
/// far keys and values, top-k extras, and ALiBi slopes when asked; keys and queries at scale 2, extra logits at 3.
/// </summary>
internal sealed record AttentionInputs(float[] Query, float[] FarQuery, float[] Keys, float[] Values, float[] FarKeys, float[] FarValues,
    float[] ExtraLogits, float[] ExtraValues, float[] Slopes)
{
    /// <summary>The first seed of eight, one per buffer in the order of the record's members.</summary>
    public static AttentionInputs Random(in AttentionShape s, bool alibi, int firstSeed) =>
        Random(s, alibi, [.. Enumerable.Range(firstSeed, 8)]);

    /// <summary>Eight seeds, one per buffer in the order of the record's members.</summary>
    public static AttentionInputs Random(in AttentionShape s, bool alibi, int[] seeds)
    {
        int rowDim = s.QueryCount * s.Heads * s.HeadDim, kvDim = s.KvHeads * s.HeadDim;
        return new(
            Inputs.Random(rowDim, seeds[0], 2f),
            Inputs.Random(rowDim, seeds[1], 2f),
            Inputs.Random(s.LocalCount * kvDim, seeds[2], 2f),
            Inputs.Random(s.LocalCount * kvDim, seeds[3]),
            Inputs.Random(Math.Max(1, s.FarCount) * kvDim, seeds[4], 2f),
            Inputs.Random(Math.Max(1, s.FarCount) * kvDim, seeds[5]),
            Inputs.Random(Math.Max(1, s.Heads * s.ExtraCount), seeds[6], 3f),
            Inputs.Random(Math.Max(1, s.Heads * s.HeadDim * s.ExtraCount), seeds[7]),
            alibi ? [0.5f, 0.25f, 0.125f, 0.0625f] : []);
    }

    /// <summary>The buffers as the host kernels take them, writing into <paramref name="output"/>.</summary>
    public AttentionSpans Spans(Span<float> output) =>
        new(Query, Keys, Values, output, FarQuery, FarKeys, FarValues, ExtraLogits, ExtraValues, Slopes);
}
