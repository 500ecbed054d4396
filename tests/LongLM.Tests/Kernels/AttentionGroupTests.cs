using LongLM.Kernels;
using LongLM.Kernels.Ops;
using Xunit;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Ops.Attention.Group (one query row, every head of a KV group over one read of its keys) against Ops.Attention.Head,
/// the per-head one-query kernel it replaced on the cpu backend: bit for bit where Group only interleaves Head's calls,
/// and against the double-precision Attention.Reference where Group's AVX-512 blocks (16 keys per logit reduction,
/// 64 value rows per weighted sum) sum in another order.
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
    public void Group_MatchesHead(string name, AttentionShape s)
    {
        int rowDim = s.Heads * s.HeadDim;
        var inputs = AttentionInputs.Random(s, name.StartsWith("ALiBi", StringComparison.Ordinal), firstSeed: 1);

        var expected = new float[rowDim];
        var scratch = new float[s.LocalCount + s.FarCount + s.ExtraCount];
        for (int h = 0; h < s.Heads; h++)
            Attention.Head(inputs.Spans(expected), s, 0, h, scratch);

        var got = new float[rowDim];
        var groupScratch = new float[Attention.GroupScratchLength(s)];
        for (int g = 0; g < s.KvHeads; g++)
            Attention.Group(inputs.Spans(got), s, 0, g, groupScratch);

        if (!Attention.HasLogits16(s.HeadDim))
        {
            // Head widths without the 16-key blocks (here head_dim 8, and every width without AVX-512): Group only
            // interleaves Head's per-head calls, so the two agree bit for bit.
            for (int c = 0; c < rowDim; c++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[c]) == BitConverter.SingleToInt32Bits(got[c]),
                    $"{name}: output {c}: Head {expected[c]:R}, Group {got[c]:R}");
            return;
        }
        // The blocked paths (Logits16's reduction tree, WeightedRows' fused multiply-adds) sum in another order: both
        // kernels are checked against the double-precision reference instead, with the prefill tile's tolerance.
        var reference = new float[rowDim];
        Attention.Reference(inputs.Spans(reference), s);
        Tolerance.AssertClose(reference, expected, 1e-5f, 1e-4f, $"{name}: Head");
        Tolerance.AssertClose(reference, got, 1e-5f, 1e-4f, $"{name}: Group");
    }

    public static TheoryData<string, AttentionShape> SplitCases() => new()
    {
        { "257 keys: a one-key last part, GQA 3:1, hd 64", Shape(256, 9, 3, 64) },
        { "512 keys: two full parts, hd 8 (no 16-key blocks)", Shape(511, 4, 2, 8) },
        { "lambda: window 600 in three parts, far keys in the first, extras in the last, hd 48", Shape(999, 6, 2, 48) with { Window = 600, LocalFirstPosition = 400, LocalCount = 600, FarCount = 4, GlobalLimit = 4, StationaryFrom = 600, ExtraCount = 3 } },
        { "ALiBi, lambda clipped at D, 700 keys, GQA 2:1", Shape(1699, 4, 2, 32) with { Window = 700, LocalFirstPosition = 1000, LocalCount = 700, FarCount = 3, GlobalLimit = 3, StationaryFrom = 700, AlibiDistanceCap = 700 } },
        { "ceiling-only: 600 far keys with a zero band, all in part 0", Shape(899, 2, 1, 16) with { Window = 300, LocalFirstPosition = 600, LocalCount = 300, FarCount = 600, StationaryFrom = 400 } },
        { "large logits: parts with far-apart maxima", Shape(800, 2, 2, 16) with { Scale = 40f } },
    };

    /// <summary>
    /// The split decode row (Ops.Attention.GroupPart over every (part, KV head), then MergeParts) against the
    /// double-precision Attention.Reference (the expected values): parts at their boundaries, a one-key part, far
    /// keys, top-k extras, ALiBi, the ceiling-only zero band and logits large enough that an unscaled merge overflows.
    /// </summary>
    [Theory]
    [MemberData(nameof(SplitCases))]
    public void SplitParts_MergeToTheReference(string name, AttentionShape s)
    {
        int rowDim = s.Heads * s.HeadDim;
        var inputs = AttentionInputs.Random(s, name.StartsWith("ALiBi", StringComparison.Ordinal), firstSeed: 11);

        int parts = Attention.SplitParts(s);
        Assert.True(parts > 1, $"{name}: {parts} part(s)");
        var outputs = new float[Attention.PartOutputLength(s, parts)];
        var stats = new float[Attention.PartStatsLength(s, parts)];
        var scratch = new float[Attention.PartScratchLength(s)];
        var got = new float[rowDim];
        var spans = inputs.Spans(got);
        for (int p = 0; p < parts; p++)
            for (int g = 0; g < s.KvHeads; g++)
                Attention.GroupPart(spans, s, g, p, parts, scratch, outputs, stats);
        Attention.MergeParts(s, parts, outputs, stats, got);

        var reference = new float[rowDim];
        Attention.Reference(inputs.Spans(reference), s);
        Tolerance.AssertClose(reference, got, 1e-5f, 1e-4f, name);
    }

    /// <summary>
    /// The cpu backend splits a decode row by its key count alone, so one and two threads give the same bits (the
    /// expected values are the one-thread run's; what is checked is that the thread count does not enter).
    /// </summary>
    [Fact]
    public void SplitDecode_DoesNotDependOnTheThreadCount()
    {
        var s = Shape(4999, 9, 3, 64);
        int rowDim = s.Heads * s.HeadDim, kvDim = s.KvHeads * s.HeadDim;
        float[] Run(int threads)
        {
            using var backend = new LongLM.Kernels.Cpu.CpuBackend(threads);
            using var dq = backend.UploadNew(Inputs.Random(rowDim, 21, 2f));
            using var dk = backend.UploadNew(Inputs.Random(s.LocalCount * kvDim, 22, 2f));
            using var dv = backend.UploadNew(Inputs.Random(s.LocalCount * kvDim, 23));
            using var output = backend.Allocate(rowDim);
            backend.Attention(new AttentionBuffers(dq, dk, dv, output), s);
            var got = new float[rowDim];
            backend.Download(output, got);
            return got;
        }
        Assert.Equal(Run(1), Run(2));
    }

    /// <summary>
    /// Logits16 against 16 dot products in double (the expected values), for head widths 16, 64 and 128 and a key
    /// stride wider than the head (GQA rows): a wrong lane in the reduction tree or the final permutation puts a key's
    /// logit in another key's place, which this catches exactly.
    /// </summary>
    [Theory]
    [InlineData(16, 48)]
    [InlineData(64, 192)]
    [InlineData(128, 128)]
    public unsafe void Logits16_EqualsSixteenDotProducts(int hd, int stride)
    {
        if (!Attention.HasLogits16(hd)) return; // needs AVX-512; the per-key loop runs elsewhere
        float[] q = Inputs.Random(hd, 61, 2f), k = Inputs.Random(16 * stride, 62, 2f), dst = new float[16];
        fixed (float* pq = q, pk = k, pd = dst)
            Attention.Logits16(pq, pk, stride, hd, 0.5f, pd);
        for (int t = 0; t < 16; t++)
        {
            double dot = 0, magnitude = 0;
            for (int c = 0; c < hd; c++) { dot += (double)q[c] * k[t * stride + c]; magnitude += Math.Abs((double)q[c] * k[t * stride + c]); }
            Assert.True(Math.Abs(dst[t] - 0.5 * dot) <= 0.5 * magnitude * hd * 1.2e-7 + 1e-6, $"key {t}: {dst[t]} vs {0.5 * dot}");
        }
    }
}
