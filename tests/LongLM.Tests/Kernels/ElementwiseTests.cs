using System.Runtime.Intrinsics;
using LongLM.Kernels;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// SwiGLU's silu(gate) * up (Ops.Elementwise.SiluMul) at every vector width against SiluMulReference (double
/// precision, g / (1 + Math.Exp(-g)) * up: the expected values come from it), its special values, and the cpu
/// backend's parallel elementwise ops (bit-identical for any thread count, in place as the models call them).
/// </summary>
public sealed unsafe class ElementwiseTests
{
    public enum Width { V128, V256, V512 }

    public static TheoryData<Width> Widths() => new(Enum.GetValues<Width>());

    private static float[] SiluMul(Width width, float[] gate, float[] up)
    {
        var y = new float[gate.Length];
        fixed (float* g = gate, u = up, d = y)
            switch (width)
            {
                case Width.V128: Elementwise.SiluMul<Vector128<float>, Vector128Ops>(g, u, d, gate.Length); break;
                case Width.V256: Elementwise.SiluMul<Vector256<float>, Vector256Ops>(g, u, d, gate.Length); break;
                default: Elementwise.SiluMul<Vector512<float>, Vector512Ops>(g, u, d, gate.Length); break;
            }
        return y;
    }

    /// <summary>Gates from -100 to 100 (both tails of the sigmoid), a length that leaves a partial last vector.</summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void SiluMul_MatchesReference_AtEveryWidth(Width width)
    {
        const int n = 20_003;
        var gate = new float[n];
        for (int i = 0; i < n; i++) gate[i] = -100f + 200f * i / (n - 1);
        gate[0] = 0f;
        gate[1] = -0f;
        gate[2] = 1e-30f;
        gate[3] = -87f;
        var up = Inputs.Random(n, 5, 2f);
        var expected = new float[n];
        Elementwise.SiluMulReference(gate, up, expected);
        Tolerance.AssertClose(expected, SiluMul(width, gate, up), 1e-30f, 1e-6f, $"silu*up at {width}");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void SiluMul_SpecialValues(Width width)
    {
        float[] gate = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, -1e30f, 0f];
        float[] up = [1f, 2f, 1f, 1f, 1f, 3f];
        var y = SiluMul(width, gate, up);
        Assert.True(float.IsNaN(y[0]), $"silu(NaN) = {y[0]}");
        Assert.Equal(float.PositiveInfinity, y[1]);
        Assert.True(float.IsNaN(y[2]), $"silu(-inf) = {y[2]}"); // -inf * sigmoid(-inf) = -inf * 0, as torch's silu and the reference
        Assert.Equal(1e30f, y[3]);
        Assert.Equal(0f, y[4]);
        Assert.Equal(0f, y[5]);
    }

    /// <summary>A prefill-sized gate (several chunks of the backend's grain), in place: every thread count gives the one-thread bits.</summary>
    [Fact]
    public void CpuBackend_SiluMulAndAdd_AreBitIdenticalForAnyThreadCount()
    {
        const int n = 100_000;
        var gate = Inputs.Random(n, 7, 8f);
        var up = Inputs.Random(n, 8, 2f);
        var expectedSilu = new float[n];
        Elementwise.SiluMulReference(gate, up, expectedSilu);
        float[]? firstSilu = null, firstAdd = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var backend = new LongLM.Kernels.Cpu.CpuBackend(threads);
            using var dg = backend.UploadNew(gate);
            using var du = backend.UploadNew(up);
            backend.SiluMul(dg, du, dg, n);
            var silu = new float[n];
            backend.Download(dg, silu);
            using var da = backend.UploadNew(gate);
            backend.Add(da, du, da, n);
            var sum = new float[n];
            backend.Download(da, sum);
            Tolerance.AssertClose(expectedSilu, silu, 1e-30f, 1e-6f, $"silu*up, {threads} threads");
            for (int i = 0; i < n; i++) Assert.Equal(gate[i] + up[i], sum[i]);
            firstSilu ??= silu;
            firstAdd ??= sum;
            Assert.True(firstSilu.AsSpan().SequenceEqual(silu), $"silu*up with {threads} threads differs from 1 thread");
        }
    }
}
