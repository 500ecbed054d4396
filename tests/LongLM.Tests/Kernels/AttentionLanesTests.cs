using System.Runtime.Intrinsics;
using LongLM.Kernels;
using LongLM.Kernels.Ops;
using Width = LongLM.Tests.Kernels.AttentionTileTests.Width;

namespace LongLM.Tests.Kernels;

/// <summary>
/// The row-lane attention kernel (Ops.Attention.Lanes: head_dim 8, one query row per vector lane) at every vector
/// width, accelerated or not, against Ops.Attention.Reference (double precision, key by key: the expected values come
/// from it, not from the kernel); its split invariance (bit-identical rows however the rows are cut into blocks); which
/// calls it takes; and the base-2 polynomial exp it uses against Math.Pow.
/// </summary>
public sealed class AttentionLanesTests
{
    private static int Lanes(Width width) => width switch { Width.V128 => 4, Width.V256 => 8, _ => 16 };

    private static void Run(Width width, AttentionSpans b, in AttentionShape s, int head, int rowStart, float[] scratch)
    {
        switch (width)
        {
            case Width.V128: Attention.Lanes<Vector128<float>, Vector128Ops>(b, s, head, rowStart, scratch); break;
            case Width.V256: Attention.Lanes<Vector256<float>, Vector256Ops>(b, s, head, rowStart, scratch); break;
            default: Attention.Lanes<Vector512<float>, Vector512Ops>(b, s, head, rowStart, scratch); break;
        }
    }

    /// <summary>Every case of the backend parity suite the kernel takes (head_dim 8, several rows, no ALiBi, no extras), at each width.</summary>
    public static TheoryData<Width, string, AttentionShape> Cases()
    {
        var data = new TheoryData<Width, string, AttentionShape>();
        foreach (var width in Enum.GetValues<Width>())
            foreach (var row in BackendParityTests.AttentionCases())
            {
                var (name, shape) = ((string)row[0], (AttentionShape)row[1]);
                if (Attention.LanesApply(shape, name.StartsWith("ALiBi", StringComparison.Ordinal))) data.Add(width, name, shape);
            }
        return data;
    }

    private sealed record Inputs3(float[] Q, float[] K, float[] V, float[] Fq, float[] Fk, float[] Fv)
    {
        public AttentionSpans Spans(float[] output) => new(Q, K, V, output, Fq, Fk, Fv);
    }

    private static Inputs3 Random(AttentionShape s)
    {
        int rowDim = s.Heads * s.HeadDim, kvDim = s.KvHeads * s.HeadDim;
        return new Inputs3(Inputs.Random(s.QueryCount * rowDim, 8, 2f), Inputs.Random(s.LocalCount * kvDim, 9, 2f), Inputs.Random(s.LocalCount * kvDim, 10),
            Inputs.Random(s.QueryCount * rowDim, 14, 2f), Inputs.Random(Math.Max(1, s.FarCount) * kvDim, 15, 2f), Inputs.Random(Math.Max(1, s.FarCount) * kvDim, 16));
    }

    /// <summary>All rows: a block at 0 (rows [0, lanes)), then blocks from <paramref name="first"/> every lane count, which overwrite rows from there on.</summary>
    private static float[] RunBlocks(Width width, Inputs3 input, AttentionShape s, int first)
    {
        var output = new float[s.QueryCount * s.Heads * s.HeadDim];
        int lanes = Lanes(width);
        var scratch = new float[Attention.LanesScratchLength(s, lanes)];
        for (int head = 0; head < s.Heads; head++)
        {
            Run(width, input.Spans(output), s, head, 0, scratch);
            for (int start = first; start < s.QueryCount; start += lanes)
                if (start > 0) Run(width, input.Spans(output), s, head, start, scratch);
        }
        return output;
    }

    [Fact]
    public void Cases_CoverTheKernel() => Assert.True(Cases().Count >= 3 * 8, $"only {Cases().Count} cases take Lanes");

    [Theory]
    [MemberData(nameof(Cases))]
    public void Lanes_MatchesReference_AtEveryWidth(Width width, string name, AttentionShape shape)
    {
        var input = Random(shape);
        var expected = new float[shape.QueryCount * shape.Heads * shape.HeadDim];
        Attention.Reference(input.Spans(expected), shape);
        Tolerance.AssertClose(expected, RunBlocks(width, input, shape, 0), 1e-5f, 1e-4f, $"{name} at {width}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Lanes_RowsDoNotDependOnTheSplit(Width width, string name, AttentionShape shape)
    {
        var input = Random(shape);
        var whole = RunBlocks(width, input, shape, 0);
        foreach (int first in new[] { 1, 3, Lanes(width) - 1 })
            Assert.True(whole.AsSpan().SequenceEqual(RunBlocks(width, input, shape, first)), $"{name} at {width}: blocks from {first} differ");
    }

    [Fact]
    public void LanesApply_OnlyHeadDim8BlocksWithoutAlibiOrExtras()
    {
        var s = new AttentionShape { QueryCount = 20, Heads = 4, KvHeads = 2, HeadDim = 8, Scale = 0.35f, FirstQueryPosition = 0, LocalFirstPosition = 0, LocalCount = 20 };
        Assert.True(Attention.LanesApply(s, hasAlibiSlopes: false));
        Assert.False(Attention.LanesApply(s, hasAlibiSlopes: true));
        Assert.False(Attention.LanesApply(s with { ExtraCount = 2 }, hasAlibiSlopes: false));
        Assert.False(Attention.LanesApply(s with { HeadDim = 16 }, hasAlibiSlopes: false));
        Assert.False(Attention.LanesApply(s with { QueryCount = 1, FirstQueryPosition = 19 }, hasAlibiSlopes: false));
    }

    [Fact]
    public void Lanes_RefusesWhatItDoesNotCompute()
    {
        var s = new AttentionShape { QueryCount = 20, Heads = 4, KvHeads = 2, HeadDim = 8, Scale = 0.35f, FirstQueryPosition = 0, LocalFirstPosition = 0, LocalCount = 20, ExtraCount = 1 };
        var input = Random(s);
        var output = new float[20 * 4 * 8];
        var scratch = new float[Attention.LanesScratchLength(s, 16)];
        Assert.Throws<ArgumentException>(() => Run(Width.V512, input.Spans(output), s, 0, 0, scratch));
        var t = s with { ExtraCount = 0 };
        Assert.Throws<ArgumentException>(() => Run(Width.V512, input.Spans(output), t, 0, 0, new float[8]));
    }

    public static TheoryData<Width> Widths() => new(Enum.GetValues<Width>());

    private static float[] Exp2(Width width, float[] x) => AttentionTileTests.AtWidth(width, x,
        VectorMath<Vector128<float>, Vector128Ops>.Exp2NonPositive, VectorMath<Vector256<float>, Vector256Ops>.Exp2NonPositive,
        VectorMath<Vector512<float>, Vector512Ops>.Exp2NonPositive);

    /// <summary>Expected values: Math.Pow(2, y) in double, rounded; the tolerance is 2 float ulps of the result (relative 2.4e-7).</summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void Exp2NonPositive_IsWithinTwoUlpOfMathPow(Width width)
    {
        const int n = 1 << 16;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -125.49f * i / (n - 1);
        x[1] = -1e-30f;
        x[2] = -0.5f; // the edges of the reduced range
        x[3] = -0.49999997f;
        x[4] = -1.5f;
        var y = Exp2(width, x);
        Assert.Equal(1f, y[0]);
        for (int i = 0; i < n; i++)
        {
            double expected = Math.Pow(2, x[i]);
            Assert.True(Math.Abs(y[i] - expected) <= 2.4e-7 * expected, $"2^({x[i]:R}) = {y[i]:R}, Math.Pow = {expected:R}");
        }
    }

    /// <summary>Masked lanes (-inf) and anything below 2^-125 give exactly 0 (never a subnormal); NaN stays NaN.</summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void Exp2NonPositive_FlushesBelowTheRangeAndKeepsNaN(Width width)
    {
        var x = new float[16];
        float[] special = [float.NegativeInfinity, -125.6f, -126f, -149.5f, -1e30f, float.MinValue, float.NaN];
        special.CopyTo(x, 0);
        var y = Exp2(width, x);
        for (int i = 0; i < 6; i++) Assert.Equal(0f, y[i]);
        Assert.True(float.IsNaN(y[6]), $"2^NaN = {y[6]}");
    }
}
