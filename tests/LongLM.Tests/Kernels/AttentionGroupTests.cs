using LongLM.Kernels;
using LongLM.Kernels.Ops;
using Xunit;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Ops.Attention.Group (one query row, every head of a KV group over one read of its keys) against Ops.Attention.Head,
/// the per-head one-query kernel it replaced on the cpu backend: Group only interleaves Head's per-head calls, so the
/// two must agree bit for bit (closeness to the double-precision reference is BackendParityTests' decode-at-depth cases).
/// </summary>
public sealed class AttentionGroupTests
{
    public static TheoryData<string, AttentionShape> Cases() => new()
    {
        { "vanilla, depth 5000, GQA 3:1", Shape(4999, 9, 3, 64) },
        { "vanilla, depth 300, MHA", Shape(299, 4, 4, 8) },
        { "lambda with top-k extras, GQA 3:1", Shape(4999, 6, 2, 64) with { Window = 2048, LocalFirstPosition = 2952, LocalCount = 2048, FarCount = 4, GlobalLimit = 4, StationaryFrom = 2048, ExtraCount = 5 } },
        { "ALiBi, lambda clipped at D, GQA 2:1", Shape(2999, 4, 2, 32) with { Window = 1024, LocalFirstPosition = 1976, LocalCount = 1024, FarCount = 3, GlobalLimit = 3, StationaryFrom = 1024, AlibiDistanceCap = 1024 } },
    };

    private static AttentionShape Shape(int position, int heads, int kvHeads, int headDim) => new()
    {
        QueryCount = 1, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Scale = 1f / MathF.Sqrt(headDim),
        FirstQueryPosition = position, LocalFirstPosition = 0, LocalCount = position + 1,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Group_EqualsHead_BitForBit(string name, AttentionShape s)
    {
        int rowDim = s.Heads * s.HeadDim, kvDim = s.KvHeads * s.HeadDim;
        var q = Inputs.Random(rowDim, 1, 2f);
        var fq = Inputs.Random(rowDim, 2, 2f);
        var k = Inputs.Random(s.LocalCount * kvDim, 3, 2f);
        var v = Inputs.Random(s.LocalCount * kvDim, 4);
        var fk = Inputs.Random(Math.Max(1, s.FarCount) * kvDim, 5, 2f);
        var fv = Inputs.Random(Math.Max(1, s.FarCount) * kvDim, 6);
        var el = Inputs.Random(Math.Max(1, s.Heads * s.ExtraCount), 7, 3f);
        var ev = Inputs.Random(Math.Max(1, rowDim * s.ExtraCount), 8);
        float[] slopes = name.StartsWith("ALiBi", StringComparison.Ordinal) ? [0.5f, 0.25f, 0.125f, 0.0625f] : [];

        var expected = new float[rowDim];
        var scratch = new float[s.LocalCount + s.FarCount + s.ExtraCount];
        for (int h = 0; h < s.Heads; h++)
            Attention.Head(new AttentionSpans(q, k, v, expected, fq, fk, fv, el, ev, slopes), s, 0, h, scratch);

        var got = new float[rowDim];
        var groupScratch = new float[Attention.GroupScratchLength(s)];
        for (int g = 0; g < s.KvHeads; g++)
            Attention.Group(new AttentionSpans(q, k, v, got, fq, fk, fv, el, ev, slopes), s, 0, g, groupScratch);

        for (int c = 0; c < rowDim; c++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[c]) == BitConverter.SingleToInt32Bits(got[c]),
                $"{name}: output {c}: Head {expected[c]:R}, Group {got[c]:R}");
    }
}
