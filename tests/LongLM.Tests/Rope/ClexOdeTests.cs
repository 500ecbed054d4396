using LongLM.Runtime.Rope;

namespace LongLM.Tests.RotaryEmbedding;

/// <summary>
/// CLEX's ODE and its torchdiffeq "rk4" (3/8 rule) fixed-grid solve against algorithms.md 7.5, whose numbers come from
/// an independent float64 re-derivation; the runtime solves in float32.
/// </summary>
public sealed class ClexOdeTests
{
    // 7.5 (b): toy model, d = 4 (two pairs), λ = 1, inv_freq = [1, 0.01], B = 1e4.
    // Decimal values as the table used them; the float32 runs round them to float32 first, as a checkpoint would.
    internal static readonly double[] ToyUp = [0.3, -0.2, 0.1, 0.05, -0.1, 0.25, -0.3, 0.2];      // [2, 4]
    internal static readonly double[] ToyDown = [0.1, -0.05, 0.02, 0.08, -0.07, 0.03, 0.04, -0.06]; // [4, 2]

    public static TheoryData<ClexActivation, double[][], double[][]> ToyTable() => new()
    {
        // act, rk4 3/8 z(2), z(3), z(4) (reference), Euler z(2), z(3), z(4) (the wrong variant)
        {
            ClexActivation.Tanh,
            [[-0.05044512835, -5.733761054], [-0.09690160674, -6.276540296], [-0.1414743681, -6.645876258]],
            [[-0.05046430743, -5.740447487], [-0.09691272526, -6.284566462], [-0.1414714186, -6.654481443]]
        },
        {
            ClexActivation.Silu,
            [[-0.1475493811, -5.652023224], [-0.3150946347, -6.101668253], [-0.4951241491, -6.371245784]],
            [[-0.1474555162, -5.658764564], [-0.3150120085, -6.109739509], [-0.4950814097, -6.379870484]]
        },
    };

    /// <summary>
    /// How far a float32 solve may sit from the float64 table in the toy model: the state is rounded to float32 after
    /// each of the 100 steps per unit of t, and |z| up to 9 has an ulp of 9.5e-7, so the rounding walks a few ulps
    /// (measured: at most 2.8e-6 over 7.5 b and c; the float64 solve of the same code matches to 1e-9). The reference
    /// integrates in float32 too, so it carries a drift of the same size. Euler is 6.7e-3 away.
    /// </summary>
    internal const double Float32Drift = 5e-6;

    private static T[][] SolveToy<T>(ClexActivation act, T[] z0, double timeBase = ClexRope.TimeEmbeddingBase)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var field = new ClexVectorField<T>(Array.ConvertAll(ToyUp, T.CreateChecked), Array.ConvertAll(ToyDown, T.CreateChecked), 2, 4, act, timeBase);
        T[] times = [T.CreateChecked(1), T.CreateChecked(2), T.CreateChecked(3), T.CreateChecked(4)];
        return ClexOde<T>.Solve(field, z0, times, T.CreateChecked(0.01));
    }

    /// <summary>The wrong variant of 7.5 (b): forward Euler on the same float32 grid (test-only integrator).</summary>
    private static double[][] EulerToy(ClexActivation act)
    {
        var field = new ClexVectorField<float>(Array.ConvertAll(ToyUp, x => (float)x), Array.ConvertAll(ToyDown, x => (float)x), 2, 4, act);
        var grid = ClexOde<float>.Grid(1f, 4f, 0.01f);
        float[] z = [0f, MathF.Log(0.01f)], dz = new float[2];
        var result = new double[3][];
        for (int g = 0; g + 1 < grid.Length; g++)
        {
            field.Derivative(grid[g], z, dz);
            for (int i = 0; i < 2; i++) z[i] += (grid[g + 1] - grid[g]) * dz[i];
            if (grid[g + 1] is 2f or 3f or 4f) result[(int)grid[g + 1] - 2] = [z[0], z[1]];
        }
        return result;
    }

    [Fact]
    public void Grid_HasTheReferencePointsAndEndsExactlyAtTheLastTime()
    {
        // torchdiffeq: n = ceil((end - start)/step + 1), t_k = k*step + start in float32, last point = end.
        var grid = ClexOde<float>.Grid(1f, 16f, 0.01f);
        Assert.Equal(1501, grid.Length);
        Assert.Equal(1f, grid[0]);
        Assert.Equal(16f, grid[^1]);
        Assert.Equal(37 * 0.01f + 1f, grid[37]);
        for (int t = 2; t <= 16; t++) Assert.Contains((float)t, grid); // integer outputs fall on grid points
        Assert.Equal(6301, ClexOde<float>.Grid(1f, 64f, 0.01f).Length);
    }

    [Theory]
    [MemberData(nameof(ToyTable))]
    public void Toy_Float32Rk4_MatchesTable_AndEulerDoesNot(ClexActivation act, double[][] reference, double[][] euler)
    {
        var z = SolveToy(act, [0f, MathF.Log(0.01f)]);
        var wrong = EulerToy(act);
        for (int t = 2; t <= 4; t++)
            for (int k = 0; k < 2; k++)
            {
                double error = Math.Abs(z[t - 1][k] - reference[t - 2][k]);
                Assert.True(error <= Float32Drift, $"{act} z({t})[{k}] = {z[t - 1][k]:R}, table {reference[t - 2][k]:R} (|diff| {error:E2})");
                Assert.Equal(euler[t - 2][k], wrong[t - 2][k], 2e-6); // the test's Euler reproduces the table's Euler row
            }
        // Euler is off by up to 8.6e-3 in the second pair: far outside the tolerance.
        Assert.True(Math.Abs(wrong[2][1] - reference[2][1]) > 1e-3);
        Assert.True(Math.Abs(z[3][1] - wrong[2][1]) > 1e-3);
    }

    [Theory]
    [MemberData(nameof(ToyTable))]
    public void Toy_Float64Rk4_MatchesTableTo1e9(ClexActivation act, double[][] reference, double[][] euler)
    {
        // The same solver in float64 isolates the algorithm (grid, 3/8 rule, xi, u) from float32 rounding.
        _ = euler;
        var z = SolveToy(act, [0.0, Math.Log(0.01)]);
        for (int t = 2; t <= 4; t++)
            for (int k = 0; k < 2; k++) Assert.Equal(reference[t - 2][k], z[t - 1][k], 1e-9);
    }

    [Fact]
    public void TimeEmbeddingBase_Is1e4_NotRopeTheta()
    {
        // 7.5 (c): Mixtral-like z0 = [0, ln(1e6^-0.5)], toy weights, tanh.
        float[] z0 = [0f, (float)Math.Log(Math.Pow(1e6, -0.5))];
        double[] reference = [-0.08482088085, -8.585063175], wrongBase = [-0.0762614456, -8.589213608];
        var z3 = SolveToy(ClexActivation.Tanh, z0)[2];
        var z3WrongBase = SolveToy(ClexActivation.Tanh, z0, timeBase: 1e6)[2];
        for (int k = 0; k < 2; k++)
        {
            Assert.Equal(reference[k], z3[k], Float32Drift);
            Assert.Equal(wrongBase[k], z3WrongBase[k], Float32Drift);
        }
        Assert.True(Math.Abs(z3WrongBase[0] - reference[0]) > 1e-3, "B = rope_theta must not reproduce the reference");
    }

    public static TheoryData<int, double, double, double, double> XiOnlyTable() => new()
    {
        // 7.5 (a): t, θ_0, θ_1, θ_32, θ_63 (d = 128, B = 1e4, W_down = 0)
        { 2, 1, 0.850994291, 0.00572338151, 3.84927328e-05 },
        { 4, 1, 0.839625743, 0.00372172134, 1.64968855e-05 },
        { 16, 1, 0.820025943, 0.00174776464, 3.72510318e-06 },
    };

    [Theory]
    [MemberData(nameof(XiOnlyTable))]
    public void XiOnly_Float32ClexRope_MatchesTable(int t, double theta0, double theta1, double theta32, double theta63)
    {
        var rope = XiOnly(maxFactor: 16);
        var theta = rope.Frequencies(t);
        (int K, double Expected)[] cases = [(0, theta0), (1, theta1), (32, theta32), (63, theta63)];
        foreach (var (k, expected) in cases)
        {
            double relative = Math.Abs(theta[k] - expected) / expected;
            // float32 end to end, as the reference: |z_63| reaches 12.5 (ulp 9.5e-7) and t = 16 takes 1500 rounded
            // steps, so the state drifts by a few 1e-6 to 1e-5 (measured worst over all 64 pairs: 5.9e-6 at t = 2,
            // 1.3e-5 at t = 4, 1.9e-5 at t = 16, pair 53; θ_63(16) itself is 1.9e-5 off). The float64 solve of the
            // same code matches the closed form to 1e-9 (XiOnly_Float64Solve_MatchesClosedForm).
            double tolerance = t == 2 ? 1e-5 : 3e-5;
            Assert.True(relative <= tolerance, $"θ_{k}({t}) = {theta[k]:R}, table {expected:R}, relative {relative:E2}");
        }
    }

    [Fact]
    public void XiOnly_Float64Solve_MatchesClosedForm()
    {
        // W_down = 0 leaves dz/dt = xi(t), whose solution is dynamic NTK with factor 2:
        // z_k(t) = ln θ_k - (2k/(d-2)) ln(2t - 1). RK4 3/8 with dt = 0.01 reproduces it to ~1e-10 (algorithms.md 7.5 a).
        const int d = 128, m = 64;
        var field = new ClexVectorField<double>(new double[m * d], new double[d * m], m, d, ClexActivation.Silu);
        var z0 = RopeFrequencies.Base(1e4, d).Select(x => Math.Log(x)).ToArray();
        double[] times = [1, 2, 4, 16];
        var z = ClexOde<double>.Solve(field, z0, times, 0.01);
        for (int j = 1; j < times.Length; j++)
            for (int k = 0; k < m; k++)
            {
                double exact = z0[k] - 2.0 * k / (d - 2) * Math.Log(2 * times[j] - 1);
                Assert.Equal(exact, z[j][k], 1e-9);
            }
    }

    [Fact]
    public void Derivative_IsMlpOfShiftedStatePlusXi()
    {
        // g(t, z) = act(u · W_up) · W_down + xi(t), u = z + ln θ^ntk(t), evaluated by hand for the toy model at t = 2.5.
        var field = new ClexVectorField<double>(ToyUp, ToyDown, 2, 4, ClexActivation.Tanh);
        double t = 2.5, alpha = 2 * t - 1;
        double[] z = [-0.1, -5.0];
        double[] u = [z[0], z[1] - 2.0 / 4 * Math.Log(1e4) - 2.0 / 2 * Math.Log(alpha)];
        double[] expected = new double[2];
        for (int j = 0; j < 4; j++)
        {
            double h = Math.Tanh(u[0] * ToyUp[j] + u[1] * ToyUp[4 + j]);
            expected[0] += h * ToyDown[2 * j];
            expected[1] += h * ToyDown[2 * j + 1];
        }
        expected[1] += -4.0 * 1 / ((4 - 2) * alpha);
        var dz = new double[2];
        field.Derivative(t, z, dz);
        Assert.Equal(expected[0], dz[0], 1e-15);
        Assert.Equal(expected[1], dz[1], 1e-15);
    }

    /// <summary>
    /// 7.5 (a)'s model: d = 128, λ = 1, W_down = 0 (its initialisation), inv_freq = float32(1e4^(-2k/d)); the ODE solved
    /// on <paramref name="backend"/> when one is given.
    /// </summary>
    internal static ClexRope XiOnly(int maxFactor, float[]? invFreq = null, LongLM.Kernels.IBackend? backend = null)
    {
        const int d = 128, m = 64;
        invFreq ??= Array.ConvertAll(RopeFrequencies.Base(1e4, d), x => (float)x);
        var up = new float[m * d];
        var random = new Random(5);
        for (int i = 0; i < up.Length; i++) up[i] = (float)(random.NextDouble() - 0.5) * 0.2f; // irrelevant while W_down = 0
        return new ClexRope(invFreq, up, new float[d * m], d, ClexActivation.Silu, 0.01, maxFactor, 4096, backend: backend);
    }
}
