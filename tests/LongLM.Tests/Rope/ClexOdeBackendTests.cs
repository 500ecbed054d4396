using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ilgpu;
using LongLM.Runtime.Rope;
using LongLM.Tests.Kernels;
using KernelOde = LongLM.Kernels.Ops.ClexOde;

namespace LongLM.Tests.RotaryEmbedding;

/// <summary>
/// algorithms.md 7.5 through the backend op <see cref="IBackend.ClexIntegrate"/> on each backend: (b) the toy model with
/// tanh and SiLU (Euler must not match), (c) the time-embedding base, (a) the ξ-only closed form through
/// <see cref="ClexRope"/> built with the backend; and the backend solve against the runtime's managed float32 solver.
/// </summary>
public abstract class ClexOdeBackendTests : IDisposable
{
    private readonly IBackend _backend;
    private readonly int _xiOnlyMaxFactor;
    private readonly bool _bitExactWithManaged;

    /// <param name="backend">The backend under test (disposed with the suite).</param>
    /// <param name="xiOnlyMaxFactor">How far 7.5 (a) is solved (16: the whole table; ILGPU's CPU accelerator is too slow for 1500 steps).</param>
    /// <param name="bitExactWithManaged">Whether the backend repeats the managed solver's float32 operations bit for bit.</param>
    protected ClexOdeBackendTests(IBackend backend, int xiOnlyMaxFactor, bool bitExactWithManaged)
    {
        _backend = backend;
        _xiOnlyMaxFactor = xiOnlyMaxFactor;
        _bitExactWithManaged = bitExactWithManaged;
    }

    public void Dispose()
    {
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }

    private static readonly float[] ToyUp = Array.ConvertAll(ClexOdeTests.ToyUp, x => (float)x);
    private static readonly float[] ToyDown = Array.ConvertAll(ClexOdeTests.ToyDown, x => (float)x);

    private static ClexOdeActivation Kernel(ClexActivation act) => act == ClexActivation.Tanh ? ClexOdeActivation.Tanh : ClexOdeActivation.Silu;

    /// <summary>The toy model of 7.5 (b) solved on the backend: z at t = 1..4 as [t - 1][k].</summary>
    private float[][] SolveToy(ClexActivation act, float[] z0, double timeBase = ClexRope.TimeEmbeddingBase)
    {
        var flat = KernelOde.Solve(_backend, z0, ToyUp, ToyDown, 4, Kernel(act), [1f, 2f, 3f, 4f], 0.01f, timeBase);
        return Enumerable.Range(0, 4).Select(t => flat.AsSpan(2 * t, 2).ToArray()).ToArray();
    }

    [BackendTheory]
    [MemberData(nameof(ClexOdeTests.ToyTable), MemberType = typeof(ClexOdeTests))]
    public void Vector75b_Toy_MatchesTable_AndEulerDoesNot(ClexActivation act, double[][] reference, double[][] euler)
    {
        var z = SolveToy(act, [0f, MathF.Log(0.01f)]);
        for (int t = 2; t <= 4; t++)
            for (int k = 0; k < 2; k++)
            {
                double error = Math.Abs(z[t - 1][k] - reference[t - 2][k]);
                Assert.True(error <= ClexOdeTests.Float32Drift, $"{_backend.Name} {act} z({t})[{k}] = {z[t - 1][k]:R}, table {reference[t - 2][k]:R} (|diff| {error:E2})");
            }
        // The table's Euler row is 6.7e-3 (tanh) / 8.6e-3 (SiLU) away in the second pair at t = 4: far outside the tolerance.
        Assert.True(Math.Abs(z[3][1] - euler[2][1]) > 1e-3, $"{act}: the backend's z(4) = {z[3][1]:R} matches Euler's {euler[2][1]:R}");
    }

    [BackendFact]
    public void Vector75c_TimeEmbeddingBase_Is1e4_NotRopeTheta()
    {
        // Mixtral-like z0 = [0, ln(1e6^-0.5)], toy weights, tanh; z(3) with B = 1e4 (the reference) and B = rope_theta (wrong).
        float[] z0 = [0f, (float)Math.Log(Math.Pow(1e6, -0.5))];
        double[] reference = [-0.08482088085, -8.585063175], wrongBase = [-0.0762614456, -8.589213608];
        var z3 = SolveToy(ClexActivation.Tanh, z0)[2];
        var z3WrongBase = SolveToy(ClexActivation.Tanh, z0, timeBase: 1e6)[2];
        for (int k = 0; k < 2; k++)
        {
            Assert.Equal(reference[k], z3[k], ClexOdeTests.Float32Drift);
            Assert.Equal(wrongBase[k], z3WrongBase[k], ClexOdeTests.Float32Drift);
        }
        Assert.True(Math.Abs(z3WrongBase[0] - reference[0]) > 1e-3, "B = rope_theta must not reproduce the reference");
    }

    [BackendFact]
    public void Vector75a_XiOnly_ClexRopeOnBackend_MatchesTable()
    {
        var rope = ClexOdeTests.XiOnly(_xiOnlyMaxFactor, backend: _backend);
        Assert.Equal(_backend.Name, rope.SolvedWith);
        int checkedRows = 0;
        foreach (var row in ClexOdeTests.XiOnlyTable())
        {
            int t = (int)row[0];
            if (t > _xiOnlyMaxFactor) continue;
            var theta = rope.Frequencies(t);
            (int K, double Expected)[] cases = [(0, (double)row[1]), (1, (double)row[2]), (32, (double)row[3]), (63, (double)row[4])];
            foreach (var (k, expected) in cases)
            {
                double relative = Math.Abs(theta[k] - expected) / expected;
                // The float32 drift of ClexOdeTests.XiOnly_Float32ClexRope_MatchesTable (the same arithmetic).
                double tolerance = t == 2 ? 1e-5 : 3e-5;
                Assert.True(relative <= tolerance, $"{_backend.Name}: θ_{k}({t}) = {theta[k]:R}, table {expected:R}, relative {relative:E2}");
            }
            checkedRows++;
        }
        Assert.True(checkedRows >= 1);
    }

    public static TheoryData<ClexActivation, int, int, int> ManagedCases() => new()
    {
        // act, m, λ, max_factor
        { ClexActivation.Tanh, 2, 1, 4 },  // 7.5 (b)'s shape
        { ClexActivation.Silu, 8, 2, 3 },
    };

    [BackendTheory]
    [MemberData(nameof(ManagedCases))]
    public void ClexRopeOnBackend_MatchesManagedSolver(ClexActivation act, int pairs, int lambda, int maxFactor)
    {
        int hidden = lambda * 2 * pairs;
        var invFreq = Enumerable.Range(0, pairs).Select(k => (float)Math.Pow(1e4, -2.0 * k / (2 * pairs))).ToArray();
        var up = Inputs.Random(pairs * hidden, 51, 1f / MathF.Sqrt(hidden));
        var down = Inputs.Random(hidden * pairs, 52, 0.2f);
        var managed = new ClexRope(invFreq, up, down, hidden, act, 0.01, maxFactor, 4096);
        var onBackend = new ClexRope(invFreq, up, down, hidden, act, 0.01, maxFactor, 4096, backend: _backend);
        Assert.Null(managed.SolvedWith);
        Assert.Equal(_backend.Name, onBackend.SolvedWith);
        Assert.Equal(invFreq, onBackend.Frequencies(1));
        for (int t = 2; t <= maxFactor; t++)
        {
            float[] expected = managed.Frequencies(t), got = onBackend.Frequencies(t);
            if (_bitExactWithManaged)
                Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), got.Select(BitConverter.SingleToUInt32Bits));
            else
                // The kernel's exp-based tanh / SiLU (and, on CUDA, ptxas' FMA contraction) move z by float32 rounding
                // only: measured 1.3e-7 relative in θ = exp(z) on ilgpu-cpu; the bound leaves room for CUDA's FMAs.
                Tolerance.AssertClose(expected, got, 0f, 5e-6f, $"{_backend.Name} θ({t})");
        }
    }
}

/// <summary>The CPU backend repeats the runtime's float32 operations exactly.</summary>
public sealed class CpuClexOdeBackendTests() : ClexOdeBackendTests(new CpuBackend(), xiOnlyMaxFactor: 16, bitExactWithManaged: true);

/// <summary>The ILGPU kernel on ILGPU's CPU accelerator: 7.5 (a) up to t = 2 (100 steps; 1500 take over 40 s there).</summary>
public sealed class IlgpuCpuClexOdeBackendTests() : ClexOdeBackendTests(IlgpuBackend.CreateCpu(), xiOnlyMaxFactor: 2, bitExactWithManaged: false);

/// <summary>The ILGPU kernel on the first NVIDIA GPU; skipped unless LONGLM_TEST_CUDA=1.</summary>
[OptInBackend("LONGLM_TEST_CUDA")]
public sealed class CudaClexOdeBackendTests() : ClexOdeBackendTests(IlgpuBackend.CreateCuda(), xiOnlyMaxFactor: 16, bitExactWithManaged: false);
