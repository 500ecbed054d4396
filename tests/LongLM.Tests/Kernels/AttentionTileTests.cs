using System.Runtime.Intrinsics;
using LongLM.Kernels;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// The attention prefill tile (Ops.Attention.Tile) at every vector width, accelerated or not (the cpu backend takes
/// only the widest one the machine has), against Ops.Attention.Reference (double precision, the dense rule key by key:
/// the expected values come from it, not from the tile); its split invariance (bit-identical rows however the rows
/// are cut into tiles); and the polynomial exp it uses against Math.Exp.
/// </summary>
public sealed class AttentionTileTests
{
    public enum Width { V128, V256, V512 }

    private static void Tile(Width width, AttentionSpans b, in AttentionShape s, int kvHead, int r0, int r1, float[] scratch)
    {
        switch (width)
        {
            case Width.V128: Attention.Tile<Vector128<float>, Vector128Ops>(b, s, kvHead, r0, r1, scratch); break;
            case Width.V256: Attention.Tile<Vector256<float>, Vector256Ops>(b, s, kvHead, r0, r1, scratch); break;
            default: Attention.Tile<Vector512<float>, Vector512Ops>(b, s, kvHead, r0, r1, scratch); break;
        }
    }

    /// <summary>Every multi-row case of the backend parity suite (vanilla, window, Lambda, ceiling-only, top-k, ALiBi), at each width.</summary>
    public static TheoryData<Width, string, AttentionShape> Cases()
    {
        var data = new TheoryData<Width, string, AttentionShape>();
        foreach (var width in Enum.GetValues<Width>())
            foreach (var row in BackendParityTests.AttentionCases())
            {
                var (name, shape) = ((string)row[0], (AttentionShape)row[1]);
                if (shape.QueryCount > 1) data.Add(width, name, shape);
            }
        return data;
    }

    private sealed record Inputs5(float[] Q, float[] K, float[] V, float[] Fq, float[] Fk, float[] Fv, float[] El, float[] Ev, float[] Slopes)
    {
        public AttentionSpans Spans(float[] output) => new(Q, K, V, output, Fq, Fk, Fv, El, Ev, Slopes);
    }

    private static Inputs5 Random(string name, AttentionShape s)
    {
        int rowDim = s.Heads * s.HeadDim, kvDim = s.KvHeads * s.HeadDim;
        return new Inputs5(Inputs.Random(s.QueryCount * rowDim, 8, 2f), Inputs.Random(s.LocalCount * kvDim, 9, 2f), Inputs.Random(s.LocalCount * kvDim, 10),
            Inputs.Random(s.QueryCount * rowDim, 14, 2f), Inputs.Random(Math.Max(1, s.FarCount) * kvDim, 15, 2f), Inputs.Random(Math.Max(1, s.FarCount) * kvDim, 16),
            Inputs.Random(Math.Max(1, s.Heads * s.ExtraCount), 17, 3f), Inputs.Random(Math.Max(1, rowDim * s.ExtraCount), 18),
            name.StartsWith("ALiBi", StringComparison.Ordinal) ? [0.5f, 0.25f, 0.125f, 0.0625f] : []);
    }

    /// <summary>All rows, cut into tiles of at most <paramref name="tile"/> rows starting at <paramref name="first"/> (then every <paramref name="tile"/>).</summary>
    private static float[] RunTiles(Width width, Inputs5 input, AttentionShape s, int first, int tile)
    {
        var output = new float[s.QueryCount * s.Heads * s.HeadDim];
        var scratch = new float[Attention.TileScratchLength(s)];
        var cuts = new List<int> { 0 };
        for (int r = first; r < s.QueryCount; r += tile) if (r > 0) cuts.Add(r);
        cuts.Add(s.QueryCount);
        for (int c = 0; c + 1 < cuts.Count; c++)
            for (int start = cuts[c]; start < cuts[c + 1]; start += Attention.TileRows)
                for (int kv = 0; kv < s.KvHeads; kv++)
                    Tile(width, input.Spans(output), s, kv, start, Math.Min(cuts[c + 1], start + Attention.TileRows), scratch);
        return output;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tile_MatchesReference_AtEveryWidth(Width width, string name, AttentionShape shape)
    {
        var input = Random(name, shape);
        var expected = new float[shape.QueryCount * shape.Heads * shape.HeadDim];
        Attention.Reference(input.Spans(expected), shape);
        Tolerance.AssertClose(expected, RunTiles(width, input, shape, 0, Attention.TileRows), 1e-5f, 1e-4f, $"{name} at {width}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tile_RowsDoNotDependOnTheSplit(Width width, string name, AttentionShape shape)
    {
        var input = Random(name, shape);
        var whole = RunTiles(width, input, shape, 0, Attention.TileRows);
        foreach (var (first, tile) in new[] { (1, 7), (13, 64), (5, 1) })
            Assert.True(whole.AsSpan().SequenceEqual(RunTiles(width, input, shape, first, tile)), $"{name} at {width}: tiles from {first} every {tile} differ");
    }

    public static TheoryData<Width> Widths() => new(Enum.GetValues<Width>());

    /// <summary>y = f(x) 16 floats at a time, through the function's Vector128, Vector256 or Vector512 form.</summary>
    internal static unsafe float[] AtWidth(Width width, float[] x, Func<Vector128<float>, Vector128<float>> f128,
        Func<Vector256<float>, Vector256<float>> f256, Func<Vector512<float>, Vector512<float>> f512)
    {
        var y = new float[x.Length];
        fixed (float* px = x, py = y)
            for (int i = 0; i < x.Length; i += 16)
                switch (width)
                {
                    case Width.V128:
                        for (int j = 0; j < 16; j += 4) Vector128.Store(f128(Vector128.Load(px + i + j)), py + i + j);
                        break;
                    case Width.V256:
                        for (int j = 0; j < 16; j += 8) Vector256.Store(f256(Vector256.Load(px + i + j)), py + i + j);
                        break;
                    default:
                        Vector512.Store(f512(Vector512.Load(px + i)), py + i);
                        break;
                }
        return y;
    }

    private static float[] Exp(Width width, float[] x) => AtWidth(width, x, VectorMath<Vector128<float>, Vector128Ops>.ExpNonPositive,
        VectorMath<Vector256<float>, Vector256Ops>.ExpNonPositive, VectorMath<Vector512<float>, Vector512Ops>.ExpNonPositive);

    /// <summary>Expected values: Math.Exp in double, rounded; the tolerance is 2 float ulps of the result (relative 2.4e-7).</summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void ExpNonPositive_IsWithinTwoUlpOfMathExp(Width width)
    {
        const int n = 1 << 16;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -87.3f * i / (n - 1);
        x[1] = -1e-30f;
        x[2] = -0.34657359f; // about -ln2/2, the edge of the reduced range
        x[3] = -0.69314718f;
        var y = Exp(width, x);
        Assert.Equal(1f, y[0]);
        for (int i = 0; i < n; i++)
        {
            double expected = Math.Exp(x[i]);
            Assert.True(Math.Abs(y[i] - expected) <= 2.4e-7 * expected, $"exp({x[i]:R}) = {y[i]:R}, Math.Exp = {expected:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ExpNonPositive_FlushesBelowTheRangeAndKeepsNaN(Width width)
    {
        var x = new float[16];
        float[] special = [float.NegativeInfinity, -87.31f, -100f, -1e30f, float.MinValue, float.NaN];
        special.CopyTo(x, 0);
        var y = Exp(width, x);
        for (int i = 0; i < 5; i++) Assert.Equal(0f, y[i]);
        Assert.True(float.IsNaN(y[5]), $"exp(NaN) = {y[5]}");
    }
}
