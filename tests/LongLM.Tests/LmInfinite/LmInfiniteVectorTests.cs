using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ops;
using LongLM.Runtime.Attention;
using static LongLM.Tests.LmInfinite.SyntheticAttention;

namespace LongLM.Tests.LmInfinite;

/// <summary>
/// algorithms.md 7.1 to 7.3 (test vectors re-derived independently in float64 by the spec's authors) and the
/// structural checks of 7.2, through the runtime's attention block on each backend.
/// </summary>
public abstract class LmInfiniteVectorTests : IDisposable
{
    private readonly IBackend _backend;

    protected LmInfiniteVectorTests(IBackend backend) => _backend = backend;

    public void Dispose()
    {
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }

    private static AttentionPolicy Lambda(int l = 4, int g = 2, int d = 4, int topK = 0, int insertAt = 2, AttentionMode mode = AttentionMode.Lambda) =>
        new(mode, l, g, d, topK, insertAt, 0, int.MaxValue);

    private static void Close(double[] expected, float[] actual, double tolerance = 1e-6)
    {
        for (int c = 0; c < expected.Length; c++)
            Assert.True(Math.Abs(expected[c] - actual[c]) <= tolerance, $"[{c}] expected {expected[c]} got {actual[c]} ({string.Join(", ", actual)})");
    }

    private static bool Matches(double[] expected, float[] actual, double tolerance = 1e-6) =>
        expected.Zip(actual, (e, a) => Math.Abs(e - a) <= tolerance).All(x => x);

    // 7.1: half-split vs interleaved pairing.
    [Theory]
    [InlineData(RopePairing.HalfSplit, new[] { -1.4133525, 1.8791181, -2.8288575, 4.0581911 })]
    [InlineData(RopePairing.Interleaved, new[] { -1.2722325, -1.838865, 2.8786681, 4.0881866 })]
    public void Vector71_RopePairing(RopePairing pairing, double[] expected)
    {
        var cosSin = new float[4];
        Rope.CosSin(3, [1, 0.01], cosSin);
        using var x = _backend.Allocate(4);
        using var table = _backend.Allocate(4);
        _backend.Upload(new float[] { 1, 2, 3, 4 }, x);
        _backend.Upload(cosSin, table);
        _backend.Rope(x, table, 1, 1, 4, 4, pairing);
        var result = new float[4];
        _backend.Download(x, result);
        Close(expected, result, 1e-6);
    }

    // 7.2: outputs of rows 3, 4, 5, 11 for n = 12, L = 4, G = 2, D = 4 prefill.
    [Theory]
    [InlineData(3, new[] { 0.38760141, 0.86208192, 1.1499782, 1.2052867 })]
    [InlineData(4, new[] { 0.57022689, 0.94976093, 1.1212439, 1.0671742 })]
    [InlineData(5, new[] { 0.74371851, 0.97448038, 0.99113895, 0.81409911 })]
    [InlineData(11, new[] { 0.092669679, -0.067525341, -0.18670432, -0.21120459 })]
    public void Vector72_LambdaOutputs(int row, double[] expected)
    {
        var all = Run(_backend, Lambda(), 12, [12]);
        Close(expected, Row(all, row));
    }

    // 7.2 wrong variants: the runtime configured as each variant reproduces the variant's number, and the
    // correct configuration matches none of them.
    [Fact]
    public void Vector72_WrongVariantsDoNotMatch()
    {
        double[] ceilingDMinus1 = [0.1015497, -0.0070286452, -0.089402641, -0.10092078];
        double[] noCeiling = [0.092079842, -0.038702934, -0.1355264, -0.15020129];
        double[] excludesSelf = [0.40098426, 0.32725961, 0.19789389, 0.069043809];
        double[] windowLPlus1 = [0.2035744, 0.030783533, -0.12506073, -0.20131879];
        var right = Row(Run(_backend, Lambda(), 12, [12]), 11);
        foreach (var wrong in new[] { ceilingDMinus1, noCeiling, excludesSelf, windowLPlus1 })
            Assert.False(Matches(wrong, right, 1e-4), $"row 11 {string.Join(", ", right)} matches a wrong variant");
        // The variants the runtime can be configured as give the listed numbers (so the vectors discriminate).
        Close(ceilingDMinus1, Row(Run(_backend, Lambda(d: 3), 12, [12]), 11), 1e-6);
        Close(noCeiling, Row(Run(_backend, Lambda(mode: AttentionMode.LambdaNoCeiling), 12, [12]), 11), 1e-6);
        Close(windowLPlus1, Row(Run(_backend, Lambda(l: 5), 12, [12]), 11), 1e-6);
    }

    // 7.2 structural checks: blocked (chunked) prefill equals the dense rule for n = 5, 12, 13, 37.
    [Theory]
    [InlineData(5)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(37)]
    public void Vector72_BlockedPrefillEqualsDenseRule(int n)
    {
        // Blocks of L = 4 queries over [bounded cache || block]: the L x 2L tiling of the official code.
        var blocked = Run(_backend, Lambda(), n, [4]);
        for (int i = 0; i < n; i++) Close(DenseLambdaRule.Output(i, 4, 2, 4), Row(blocked, i), 2e-6);
    }

    [Fact]
    public void Vector72_IncrementalDecodeEqualsPrefill()
    {
        var prefill = Run(_backend, Lambda(), 37, [37]);
        var decode = Run(_backend, Lambda(), 37, [1]);
        Assert.Equal(prefill.Length, decode.Length);
        for (int i = 0; i < prefill.Length; i++) Assert.True(Math.Abs(prefill[i] - decode[i]) <= 1e-6, $"[{i}] {prefill[i]} vs {decode[i]}");
    }

    [Fact]
    public void Vector72_ChunkedPrefillEqualsOneShot()
    {
        var oneShot = Run(_backend, Lambda(), 37, [37]);
        var chunked = Run(_backend, Lambda(), 37, [3, 7, 1, 10, 5]);
        for (int i = 0; i < oneShot.Length; i++) Assert.True(Math.Abs(oneShot[i] - chunked[i]) <= 1e-6, $"[{i}]");
    }

    [Fact]
    public void Vector72_BoundedCacheEqualsFullCache()
    {
        // Full cache: top-k on with a layer range that never applies keeps every raw key and value; bounded: G + L.
        var full = Run(_backend, Lambda() with { TopK = 1, TopKFromLayer = 5, TopKToLayer = 6 }, 60, [1]);
        var bounded = Run(_backend, Lambda(), 60, [1]);
        for (int i = 0; i < full.Length; i++) Assert.True(Math.Abs(full[i] - bounded[i]) <= 1e-6, $"[{i}]");
    }

    // 7.3: top-k middle tokens (n = 24, L = 4, G = 2, D = 4, k = 3, insert_at = 2, last row).
    [Fact]
    public void Vector73_TopKSelectionAndOutput()
    {
        var withTopK = Run(_backend, Lambda(topK: 3), 24, [24]);
        Close([0.19913856, 0.48572181, 0.67786692, 0.75301353], Row(withTopK, 23));
        var without = Run(_backend, Lambda(), 24, [24]);
        Close([0.079068585, 0.6284723, 1.0484876, 1.2607635], Row(without, 23));
        // Only the last row of the call changes.
        for (int i = 0; i < 23 * D; i++) Assert.Equal(without[i], withTopK[i]);

        // The selection itself: top-3 = [7, 19, 8] with scores [0.68320216, 0.64676136, 0.61540166].
        var q = new float[4];
        Rows(Q, 23, 1).CopyTo(q, 0);
        var cosSin = new float[4];
        Rope.CosSin(2, [1, 0.01], cosSin);
        Rope.Head(q, cosSin, 4, RopePairing.HalfSplit);
        using var dq = _backend.Allocate(4);
        using var keys = _backend.Allocate(24 * 4);
        using var values = _backend.Allocate(24 * 4);
        using var logits = _backend.Allocate(3);
        using var selected = _backend.Allocate(12);
        _backend.Upload(q, dq);
        _backend.Upload(Rows(K, 0, 24), keys);
        _backend.Upload(Rows(V, 0, 24), values);
        _backend.SelectTopK(dq, keys, values, new TopKShape(1, 1, 4, 0.5f, 2, 20, 3), logits, selected);
        var scores = new float[3];
        _backend.Download(logits, scores);
        Close([0.68320216, 0.64676136, 0.61540166], scores);
        var chosen = new float[12];
        _backend.Download(selected, chosen);
        int[] expectedKeys = [7, 19, 8];
        for (int e = 0; e < 3; e++) Assert.Equal(Rows(V, expectedKeys[e], 1), chosen.AsSpan(e * 4, 4).ToArray());
    }

    [Fact]
    public void Vector73_TopKOnlyInItsLayers()
    {
        // Layer 0 is below TopKFromLayer = 1: plain Lambda there.
        var below = Run(_backend, Lambda(topK: 3) with { TopKFromLayer = 1 }, 24, [24], layer: 0);
        Close([0.079068585, 0.6284723, 1.0484876, 1.2607635], Row(below, 23));
    }

    [Fact]
    public void Positions_Offset1e9_SameOutputs()
    {
        // RoPE logits depend on distances only; with double-precision angles an offset of 1e9 changes nothing.
        var atZero = Run(_backend, Lambda(), 20, [5]);
        var far = Run(_backend, Lambda(), 20, [5], firstPosition: 1_000_000_000);
        for (int i = 0; i < atZero.Length; i++) Assert.True(Math.Abs(atZero[i] - far[i]) <= 1e-5, $"[{i}] {atZero[i]} vs {far[i]}");
    }
}

/// <summary>The vectors on the managed SIMD backend.</summary>
public sealed class CpuLmInfiniteVectorTests() : LmInfiniteVectorTests(new CpuBackend());

/// <summary>The vectors on the ILGPU kernels (ILGPU's CPU accelerator, configured like a GPU).</summary>
public sealed class IlgpuCpuLmInfiniteVectorTests() : LmInfiniteVectorTests(LongLM.Kernels.Ilgpu.IlgpuBackend.CreateCpu());
