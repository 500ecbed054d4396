using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ilgpu;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// <see cref="IBackend.ClexIntegrate"/> (CLEX's ODE solve, float32) against <see cref="ClexOde.Reference"/> (float64) on
/// seeded random models, one abstract suite per backend. Shapes and grids stay small: on ILGPU's CPU accelerator every
/// RK4 stage is two group barriers, each a rendezvous of OS threads, so a 300-step solve takes seconds there.
/// </summary>
public abstract class ClexOdeParityTests : IDisposable
{
    private readonly IBackend _backend;

    protected ClexOdeParityTests(IBackend backend) => _backend = backend;

    public void Dispose()
    {
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>z0 = ln(inv_freq) of a d = 2m RoPE with base 1e4, in float32 as CLEX computes it.</summary>
    private static float[] LogBaseFrequencies(int pairs) =>
        Enumerable.Range(0, pairs).Select(k => MathF.Log((float)Math.Pow(1e4, -2.0 * k / (2 * pairs)))).ToArray();

    public static TheoryData<string, int, int, ClexOdeActivation, float[], float> Cases() => new()
    {
        // name, m, λ (hidden = λ·2m), act, output times, step
        { "m=4 tanh, integer and off-grid times", 4, 1, ClexOdeActivation.Tanh, [1f, 1.005f, 2f, 2.5f, 3f, 4f], 0.01f },
        { "m=8 λ=2 silu", 8, 2, ClexOdeActivation.Silu, [1f, 2f, 3.3333333f, 4f], 0.01f },
        { "m=16 tanh", 16, 1, ClexOdeActivation.Tanh, [1f, 2f, 3f, 4f], 0.01f },
        { "hidden 256 > one group, from t=0.5 (alpha clamped to 1 below t=1)", 4, 32, ClexOdeActivation.Silu, [0.5f, 1f, 2f], 0.01f },
        { "two outputs inside one step, coarse grid", 2, 1, ClexOdeActivation.Tanh, [1f, 1.1f, 1.2f, 2f], 0.25f },
        { "only the start", 4, 1, ClexOdeActivation.Silu, [1f], 0.01f },
    };

    [BackendTheory]
    [MemberData(nameof(Cases))]
    public void ClexIntegrate_MatchesFloat64Reference(string name, int pairs, int lambda, ClexOdeActivation activation, float[] times, float step)
    {
        int hidden = lambda * 2 * pairs;
        var z0 = LogBaseFrequencies(pairs);
        // W_up at its initialisation scale U(±1/sqrt(λd)) (u reaches -18, so tanh saturates and SiLU spans its range);
        // W_down non-zero (it is 0 only at initialisation) so the MLP drives z as strongly as ξ does.
        var up = Inputs.Random(pairs * hidden, 31 + pairs, 1f / MathF.Sqrt(hidden));
        var down = Inputs.Random(hidden * pairs, 37 + pairs, 0.2f);
        var grid = ClexOde.Grid(times[0], times[^1], step);
        var expected = Array.ConvertAll(ClexOde.Reference(z0, up, down, hidden, activation, grid, times), x => (float)x);

        var got = ClexOde.Solve(_backend, z0, up, down, hidden, activation, times, step);

        Assert.Equal(z0, got[..pairs]);
        // The float32 state is rounded at every step, so it drifts from the float64 solve by a few 1e-6 over 300 steps
        // with |z| up to 13 (measured worst: 1.24e-5 at |z| = 11 in "m=16 tanh", 37% of this bound; cpu and
        // ilgpu-cpu agree to 3e-8 on these cases, the kernel's exp-based activations being the only difference).
        Tolerance.AssertClose(expected, got, 5e-6f, 3e-6f, $"{_backend.Name}: {name}");
    }

    [BackendFact]
    public void ClexIntegrate_OnGridOutputs_AreTheStepValues_NotInterpolated()
    {
        // With the runtime's own grid (dt 0.01 from 1) integer t are grid points: the output row is y at that point
        // exactly, so solving to t = 3 and reading t = 2 gives the same bits as solving to t = 2.
        var z0 = LogBaseFrequencies(4);
        var up = Inputs.Random(4 * 8, 41, 0.35f);
        var down = Inputs.Random(8 * 4, 42, 0.2f);
        var toThree = ClexOde.Solve(_backend, z0, up, down, 8, ClexOdeActivation.Tanh, [1f, 2f, 3f], 0.01f);
        var toTwo = ClexOde.Solve(_backend, z0, up, down, 8, ClexOdeActivation.Tanh, [1f, 2f], 0.01f);
        Assert.Equal(toTwo[4..8], toThree[4..8]);
    }

    [BackendFact]
    public void ClexIntegrate_ShortBuffers_Throw()
    {
        var shape = new ClexShape(4, 8, ClexOdeActivation.Silu, GridLength: 3, TimeCount: 2);
        using var z0 = _backend.Allocate(4);
        using var up = _backend.Allocate(32);
        using var down = _backend.Allocate(32);
        using var grid = _backend.Allocate(3);
        using var terms = _backend.Allocate(shape.TimePoints * 2 * 4 - 1); // one float short
        using var times = _backend.Allocate(2);
        using var result = _backend.Allocate(8);
        Assert.ThrowsAny<ArgumentException>(() => _backend.ClexIntegrate(z0, up, down, grid, terms, times, result, shape));
        Assert.ThrowsAny<ArgumentException>(() => _backend.ClexIntegrate(z0, up, down, grid, terms, times, result, shape with { Pairs = 0 }));
    }
}

/// <summary>The managed float32 loop.</summary>
public sealed class CpuClexOdeParityTests() : ClexOdeParityTests(new CpuBackend());

/// <summary>The ILGPU kernel on ILGPU's CPU accelerator.</summary>
public sealed class IlgpuCpuClexOdeParityTests() : ClexOdeParityTests(IlgpuBackend.CreateCpu());

/// <summary>The ILGPU kernel on the first NVIDIA GPU; skipped unless LONGLM_TEST_CUDA=1.</summary>
[OptInBackend("LONGLM_TEST_CUDA")]
public sealed class CudaClexOdeParityTests() : ClexOdeParityTests(IlgpuBackend.CreateCuda());
