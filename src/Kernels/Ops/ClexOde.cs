using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>
/// CLEX's neural ODE for the log inverse frequencies z (algorithms.md 3.2-3.3; CLEX:CLEX/clex_layer.py::ODELinear and
/// torchdiffeq 0.2.3's fixed-grid "rk4", which is the 3/8 rule), as the <see cref="IBackend.ClexIntegrate"/> op:
/// <code>
/// alpha(t)          = 2t - 1  (t &gt;= 1),  1  (t &lt; 1)
/// ln theta^ntk_k(t) = -(2k/d) ln B - (2k/(d-2)) ln alpha              (m = d/2 pairs, k = 0..m-1)
/// xi_k(t)           = -4k / ((d-2) alpha)                             (= d/dt ln theta^ntk_k)
/// u                 = z + ln theta^ntk(t)                             (row vector)
/// dz/dt = g(t, z)   = act(u · W_up) · W_down + xi(t)                  (W_up [m, λd], W_down [λd, m], no bias)
///
/// step t0 -> t1, dt = t1 - t0:
///   k1 = g(t0, y)
///   k2 = g(t0 + dt/3,  y + dt·k1/3)
///   k3 = g(t0 + 2dt/3, y + dt·(k2 - k1/3))
///   k4 = g(t1,         y + dt·(k1 - k2 + k3))
///   y += (k1 + 3(k2 + k3) + k4)·dt/8
/// </code>
/// The op integrates in float32 on torchdiffeq's float32 grid (<see cref="Grid"/>) and emits z at each output time by
/// linear interpolation at the first step whose end reaches it (exact on a grid point). Its time-dependent terms,
/// ln theta^ntk and xi at every stage time, are not computed on the device: the runtime's float32 solver
/// (LongLM.Runtime.Rope.ClexVectorField) evaluates them in double and rounds once to float32, and
/// <see cref="TimeTerms"/> does exactly that on the host, so every backend adds the same float32 values.
/// </summary>
/// <remarks>
/// Three implementations of one computation: <see cref="Integrate"/> (float32, the CPU backend; the runtime's
/// ClexOde&lt;float&gt;.Solve operation for operation, so bit for bit), the ILGPU kernel (Ilgpu/ClexKernels.cs, the same
/// order of operations per stage; exp-based tanh/SiLU and, on CUDA, ptxas' multiply-add contraction make it differ by
/// float32 rounding only) and <see cref="Reference"/> (float64 scalar, everything from the closed forms, for the
/// parity tests).
/// </remarks>
public static class ClexOde
{
    /// <summary>B of theta^ntk for every released CLEX model (10000 whatever rope_theta is).</summary>
    public const double DefaultTimeEmbeddingBase = 10000;

    /// <summary>(float)(1/3), as the runtime's and torchdiffeq's float32 arithmetic uses it.</summary>
    public const float Third = (float)(1.0 / 3);
    /// <summary>(float)(2/3).</summary>
    public const float TwoThirds = (float)(2.0 / 3);

    /// <summary>
    /// torchdiffeq's fixed grid in float32: n = ceil((end - start)/step + 1) points t_k = k·step + start (a float32
    /// product, then a float32 sum), the last overwritten with <paramref name="end"/>.
    /// </summary>
    public static float[] Grid(float start, float end, float step)
    {
        if (!(step > 0)) throw new ArgumentOutOfRangeException(nameof(step), step, "the step must be positive");
        if (!(end >= start)) throw new ArgumentException($"the grid end {end} lies before its start {start}");
        float count = MathF.Ceiling((end - start) / step + 1f);
        if (!(count <= 1 << 24)) throw new ArgumentOutOfRangeException(nameof(step), step, "the grid would have more than 2^24 points");
        int n = Math.Max((int)count, 1);
        var grid = new float[n];
        for (int k = 0; k < n; k++) grid[k] = k * step + start;
        grid[^1] = end;
        return grid;
    }

    /// <summary>
    /// The time terms table [<see cref="ClexShape.TimePoints"/>, 2, m]: row 3g + s holds ln theta^ntk(τ) then xi(τ) at the
    /// stage time τ of step g (s = 0: t0, 1: t0 + dt·(1/3), 2: t0 + dt·(2/3), each a float32 sum as in the solver), and the
    /// last row the grid's end. Each value is computed in double from the closed form at the float32 stage time and
    /// rounded once, as the runtime's ClexVectorField does.
    /// </summary>
    /// <param name="grid">The float32 grid (<see cref="Grid"/>).</param>
    /// <param name="pairs">m = d/2 (at least 2: xi divides by d - 2).</param>
    /// <param name="timeEmbeddingBase">B (10000 for every released model).</param>
    public static float[] TimeTerms(ReadOnlySpan<float> grid, int pairs, double timeEmbeddingBase = DefaultTimeEmbeddingBase)
    {
        if (grid.IsEmpty) throw new ArgumentException("the grid is empty", nameof(grid));
        if (pairs < 2) throw new ArgumentOutOfRangeException(nameof(pairs), pairs, "CLEX needs d >= 4 (xi divides by d - 2)");
        if (!double.IsFinite(timeEmbeddingBase) || timeEmbeddingBase <= 1)
            throw new ArgumentOutOfRangeException(nameof(timeEmbeddingBase), timeEmbeddingBase, "the time-embedding base must exceed 1");
        int d = 2 * pairs, points = 3 * (grid.Length - 1) + 1;
        var lnBaseTerm = new double[pairs];
        var alphaTerm = new double[pairs];
        for (int k = 0; k < pairs; k++)
        {
            lnBaseTerm[k] = 2.0 * k / d * Math.Log(timeEmbeddingBase);
            alphaTerm[k] = 2.0 * k / (d - 2);
        }
        var table = new float[checked(points * 2 * pairs)];
        void Row(int point, float t)
        {
            double alpha = t < 1 ? 1 : 2 * (double)t - 1, lnAlpha = Math.Log(alpha);
            var row = table.AsSpan(point * 2 * pairs, 2 * pairs);
            for (int k = 0; k < pairs; k++)
            {
                row[k] = (float)(-lnBaseTerm[k] - alphaTerm[k] * lnAlpha);
                row[pairs + k] = (float)(-2 * alphaTerm[k] / alpha);
            }
        }
        for (int g = 0; g + 1 < grid.Length; g++)
        {
            float t0 = grid[g], dt = grid[g + 1] - t0;
            Row(3 * g, t0);
            Row(3 * g + 1, t0 + dt * Third);
            Row(3 * g + 2, t0 + dt * TwoThirds);
        }
        Row(points - 1, grid[^1]);
        return table;
    }

    /// <summary>
    /// The op in float32 (the CPU backend): z at every output time into <paramref name="result"/> [TimeCount, m], row 0
    /// being <paramref name="z0"/>. The order of operations is the runtime's ClexOde&lt;float&gt;.Rk4Step and
    /// ClexVectorField&lt;float&gt;.Derivative: u = stage + ln theta^ntk; hidden_j = act(Σ_i W_up[i, j]·u_i) summed over i
    /// in order, unfused; dz_k = Σ_j W_down[j, k]·hidden_j in order, then + xi_k.
    /// </summary>
    public static void Integrate(ReadOnlySpan<float> z0, ReadOnlySpan<float> upProj, ReadOnlySpan<float> downProj, ReadOnlySpan<float> grid,
        ReadOnlySpan<float> timeTerms, ReadOnlySpan<float> times, Span<float> result, ClexShape shape)
    {
        CheckLengths(z0.Length, upProj.Length, downProj.Length, grid.Length, timeTerms.Length, times.Length, result.Length, shape);
        int m = shape.Pairs, h = shape.Hidden;
        var scratch = new float[8 * m + h];
        var y0 = scratch.AsSpan(0, m);
        var y1 = scratch.AsSpan(m, m);
        var k1 = scratch.AsSpan(2 * m, m);
        var k2 = scratch.AsSpan(3 * m, m);
        var k3 = scratch.AsSpan(4 * m, m);
        var k4 = scratch.AsSpan(5 * m, m);
        var stage = scratch.AsSpan(6 * m, m);
        var u = scratch.AsSpan(7 * m, m);
        var hidden = scratch.AsSpan(8 * m, h);
        z0[..m].CopyTo(y0);
        z0[..m].CopyTo(result[..m]);
        int next = 1;
        for (int g = 0; g + 1 < shape.GridLength && next < shape.TimeCount; g++)
        {
            float t0 = grid[g], t1 = grid[g + 1], dt = t1 - t0;
            var terms = timeTerms.Slice(3 * g * 2 * m, 4 * 2 * m); // the rows of t0, t0 + dt/3, t0 + 2dt/3, t1
            Derivative(y0, terms[..(2 * m)], upProj, downProj, shape, u, hidden, k1);
            for (int i = 0; i < m; i++) stage[i] = y0[i] + dt * k1[i] * Third;
            Derivative(stage, terms.Slice(2 * m, 2 * m), upProj, downProj, shape, u, hidden, k2);
            for (int i = 0; i < m; i++) stage[i] = y0[i] + dt * (k2[i] - k1[i] * Third);
            Derivative(stage, terms.Slice(4 * m, 2 * m), upProj, downProj, shape, u, hidden, k3);
            for (int i = 0; i < m; i++) stage[i] = y0[i] + dt * (k1[i] - k2[i] + k3[i]);
            Derivative(stage, terms.Slice(6 * m, 2 * m), upProj, downProj, shape, u, hidden, k4);
            for (int i = 0; i < m; i++)
            {
                float dy = (k1[i] + 3f * (k2[i] + k3[i]) + k4[i]) * dt * 0.125f;
                y1[i] = y0[i] + dy;
            }
            for (; next < shape.TimeCount && t1 >= times[next]; next++)
            {
                float t = times[next];
                var row = result.Slice(next * m, m);
                if (t == t0) y0.CopyTo(row);
                else if (t == t1) y1.CopyTo(row);
                else
                {
                    float slope = (t - t0) / (t1 - t0);
                    for (int i = 0; i < m; i++) row[i] = y0[i] + slope * (y1[i] - y0[i]);
                }
            }
            var swap = y0;
            y0 = y1;
            y1 = swap;
        }
    }

    private static void Derivative(ReadOnlySpan<float> stage, ReadOnlySpan<float> terms, ReadOnlySpan<float> up, ReadOnlySpan<float> down,
        ClexShape shape, Span<float> u, Span<float> hidden, Span<float> dz)
    {
        int m = shape.Pairs, h = shape.Hidden;
        for (int k = 0; k < m; k++) u[k] = stage[k] + terms[k];
        hidden.Clear();
        for (int i = 0; i < m; i++)
            TensorPrimitives.MultiplyAdd(up.Slice(i * h, h), u[i], hidden, hidden); // W_up[i, j]·u_i + hidden[j], unfused
        if (shape.Activation == ClexOdeActivation.Tanh)
            for (int j = 0; j < h; j++) hidden[j] = MathF.Tanh(hidden[j]);
        else
            for (int j = 0; j < h; j++) hidden[j] = hidden[j] / (1f + MathF.Exp(-hidden[j]));
        dz.Clear();
        for (int j = 0; j < h; j++)
            TensorPrimitives.MultiplyAdd(down.Slice(j * m, m), hidden[j], dz, dz);
        for (int k = 0; k < m; k++) dz[k] += terms[m + k];
    }

    /// <summary>
    /// Scalar float64 reference: the same solve with every quantity in double (the float32 grid points and weights
    /// widened; stage times, ln theta^ntk, xi, the MLP and the RK4 3/8 combination from the formulas above). Returns
    /// [times, m]. Against it a float32 solve differs by its accumulated rounding (a few 1e-6 over a few hundred steps).
    /// </summary>
    public static double[] Reference(ReadOnlySpan<float> z0, ReadOnlySpan<float> upProj, ReadOnlySpan<float> downProj, int hidden,
        ClexOdeActivation activation, ReadOnlySpan<float> grid, ReadOnlySpan<float> times, double timeEmbeddingBase = DefaultTimeEmbeddingBase)
    {
        int m = z0.Length, h = hidden, d = 2 * m;
        if (m < 2 || h < 1 || upProj.Length != m * h || downProj.Length != h * m || grid.IsEmpty || times.IsEmpty)
            throw new ArgumentException("bad CLEX ODE reference inputs");
        double[] up = Widen(upProj), down = Widen(downProj);
        double lnB = Math.Log(timeEmbeddingBase);
        void G(double t, double[] z, double[] dz)
        {
            double alpha = t < 1 ? 1 : 2 * t - 1;
            var u = new double[m];
            for (int k = 0; k < m; k++) u[k] = z[k] - 2.0 * k / d * lnB - 2.0 * k / (d - 2) * Math.Log(alpha);
            var act = new double[h];
            for (int j = 0; j < h; j++)
            {
                double s = 0;
                for (int i = 0; i < m; i++) s += u[i] * up[i * h + j];
                act[j] = activation == ClexOdeActivation.Tanh ? Math.Tanh(s) : s / (1 + Math.Exp(-s));
            }
            for (int k = 0; k < m; k++)
            {
                double s = 0;
                for (int j = 0; j < h; j++) s += act[j] * down[j * m + k];
                dz[k] = s - 4.0 * k / ((d - 2) * alpha);
            }
        }

        var result = new double[times.Length * m];
        double[] y = Widen(z0), y1 = new double[m], stage = new double[m];
        double[] k1 = new double[m], k2 = new double[m], k3 = new double[m], k4 = new double[m];
        y.CopyTo(result, 0);
        int next = 1;
        for (int g = 0; g + 1 < grid.Length && next < times.Length; g++)
        {
            double t0 = grid[g], t1 = grid[g + 1], dt = t1 - t0;
            G(t0, y, k1);
            for (int i = 0; i < m; i++) stage[i] = y[i] + dt * k1[i] / 3;
            G(t0 + dt / 3, stage, k2);
            for (int i = 0; i < m; i++) stage[i] = y[i] + dt * (k2[i] - k1[i] / 3);
            G(t0 + 2 * dt / 3, stage, k3);
            for (int i = 0; i < m; i++) stage[i] = y[i] + dt * (k1[i] - k2[i] + k3[i]);
            G(t1, stage, k4);
            for (int i = 0; i < m; i++) y1[i] = y[i] + (k1[i] + 3 * (k2[i] + k3[i]) + k4[i]) * dt / 8;
            for (; next < times.Length && t1 >= times[next]; next++)
            {
                double t = times[next];
                for (int i = 0; i < m; i++)
                    result[next * m + i] = t == t0 ? y[i] : t == t1 ? y1[i] : y[i] + (t - t0) / (t1 - t0) * (y1[i] - y[i]);
            }
            (y, y1) = (y1, y);
        }
        return result;
    }

    /// <summary>
    /// The whole solve on <paramref name="backend"/>: z at each of <paramref name="times"/> (increasing; the first is the
    /// start, where z = <paramref name="z0"/>) on <see cref="Grid"/>(times[0], times[^1], step), as [times, m]. Builds the
    /// grid and <see cref="TimeTerms"/> on the host, uploads, runs <see cref="IBackend.ClexIntegrate"/> and downloads.
    /// </summary>
    /// <param name="backend">Where the integration runs.</param>
    /// <param name="z0">ln(inv_freq), m = d/2 values.</param>
    /// <param name="upProj">ode_up_proj, row-major [m, hidden].</param>
    /// <param name="downProj">ode_down_proj, row-major [hidden, m].</param>
    /// <param name="hidden">λd.</param>
    /// <param name="activation">The MLP nonlinearity.</param>
    /// <param name="times">The output times, increasing.</param>
    /// <param name="step">time_dt (float32, as the reference's grid).</param>
    /// <param name="timeEmbeddingBase">B.</param>
    public static float[] Solve(IBackend backend, ReadOnlySpan<float> z0, ReadOnlySpan<float> upProj, ReadOnlySpan<float> downProj, int hidden,
        ClexOdeActivation activation, ReadOnlySpan<float> times, float step, double timeEmbeddingBase = DefaultTimeEmbeddingBase)
    {
        ArgumentNullException.ThrowIfNull(backend);
        int m = z0.Length;
        if (m < 2) throw new ArgumentException("CLEX needs d >= 4 (xi divides by d - 2)", nameof(z0));
        if (hidden < 1) throw new ArgumentOutOfRangeException(nameof(hidden), hidden, "the MLP width must be positive");
        if (upProj.Length != (long)m * hidden) throw new ArgumentException($"ode_up_proj has {upProj.Length} values, [{m}, {hidden}] needs {m * hidden}", nameof(upProj));
        if (downProj.Length != (long)hidden * m) throw new ArgumentException($"ode_down_proj has {downProj.Length} values, [{hidden}, {m}] needs {hidden * m}", nameof(downProj));
        if (times.IsEmpty) throw new ArgumentException("no output times", nameof(times));
        for (int j = 1; j < times.Length; j++)
            if (!(times[j] > times[j - 1])) throw new ArgumentException("output times must increase", nameof(times));

        var grid = Grid(times[0], times[^1], step);
        var shape = new ClexShape(m, hidden, activation, grid.Length, times.Length);
        shape.Validate();
        var terms = TimeTerms(grid, m, timeEmbeddingBase);
        using var dz0 = backend.UploadNew(z0);
        using var dup = backend.UploadNew(upProj);
        using var ddown = backend.UploadNew(downProj);
        using var dgrid = backend.UploadNew(grid);
        using var dterms = backend.UploadNew(terms);
        using var dtimes = backend.UploadNew(times);
        using var dresult = backend.Allocate((long)times.Length * m);
        backend.ClexIntegrate(dz0, dup, ddown, dgrid, dterms, dtimes, dresult, shape);
        var result = new float[times.Length * m];
        backend.Download(dresult, result);
        return result;
    }

    /// <summary>Checks that each buffer holds what <paramref name="shape"/> needs (backends call this before the op).</summary>
    public static void CheckLengths(long z0, long upProj, long downProj, long grid, long timeTerms, long times, long result, ClexShape shape)
    {
        shape.Validate();
        int m = shape.Pairs, h = shape.Hidden;
        void Need(long have, long need, string name)
        {
            if (have < need) throw new ArgumentException($"CLEX ODE: {name} holds {have} floats, {shape} needs {need}");
        }
        Need(z0, m, "z0");
        Need(upProj, (long)m * h, "ode_up_proj");
        Need(downProj, (long)h * m, "ode_down_proj");
        Need(grid, shape.GridLength, "the grid");
        Need(timeTerms, (long)shape.TimePoints * 2 * m, "the time terms");
        Need(times, shape.TimeCount, "the output times");
        Need(result, (long)shape.TimeCount * m, "the result");
    }

    private static double[] Widen(ReadOnlySpan<float> values)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++) wide[i] = values[i];
        return wide;
    }
}
