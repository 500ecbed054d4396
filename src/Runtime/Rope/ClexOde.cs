using System.Numerics;

namespace LongLM.Runtime.Rope;

/// <summary>
/// torchdiffeq's fixed-grid <c>odeint(func, y0, t, method="rk4", options={"step_size": dt})</c> as CLEX calls it
/// (algorithms.md 3.3; torchdiffeq 0.2.3 FixedGridODESolver, RK4, rk4_alt_step_func), in the precision
/// <typeparamref name="T"/> throughout (float32 for the runtime, as the reference).
/// </summary>
public static class ClexOde<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// The fixed grid from <paramref name="start"/> to <paramref name="end"/>: n = ceil((end - start) / step + 1) points
    /// t_k = k·step + start (a T product, then a T sum), the last one overwritten with <paramref name="end"/>.
    /// </summary>
    public static T[] Grid(T start, T end, T step)
    {
        if (!(step > T.Zero)) throw new ArgumentOutOfRangeException(nameof(step), step, "the step must be positive");
        if (!(end >= start)) throw new ArgumentException($"the grid end {end} lies before its start {start}");
        T count = T.Ceiling((end - start) / step + T.One);
        if (count > T.CreateChecked(1 << 24)) throw new ArgumentOutOfRangeException(nameof(step), step, "the grid would have more than 2^24 points");
        int n = Math.Max(int.CreateChecked(count), 1);
        var grid = new T[n];
        for (int k = 0; k < n; k++) grid[k] = T.CreateChecked(k) * step + start;
        grid[^1] = end;
        return grid;
    }

    /// <summary>
    /// One RK4 step in the 3/8 rule ("rk4" in torchdiffeq, not the classic 1/6 rule), writing the increment to
    /// <paramref name="dy"/>, with the reference's order of operations:
    /// <code>
    /// k1 = g(t0, y)
    /// k2 = g(t0 + dt/3,  y + dt·k1/3)
    /// k3 = g(t0 + 2dt/3, y + dt·(k2 − k1/3))
    /// k4 = g(t1,         y + dt·(k1 − k2 + k3))
    /// dy = (k1 + 3(k2 + k3) + k4)·dt/8
    /// </code>
    /// <paramref name="scratch"/> needs 5·m entries (k1..k4 and the stage state).
    /// </summary>
    public static void Rk4Step(ClexVectorField<T> field, T t0, T t1, ReadOnlySpan<T> y, Span<T> dy, Span<T> scratch)
    {
        int m = y.Length;
        if (dy.Length != m || scratch.Length < 5 * m) throw new ArgumentException("dy must match y and scratch needs 5 * y.Length entries");
        var k1 = scratch[..m];
        var k2 = scratch.Slice(m, m);
        var k3 = scratch.Slice(2 * m, m);
        var k4 = scratch.Slice(3 * m, m);
        var stage = scratch.Slice(4 * m, m);
        T dt = t1 - t0;
        T third = T.CreateChecked(1.0 / 3), twoThirds = T.CreateChecked(2.0 / 3);
        T three = T.CreateChecked(3), eighth = T.CreateChecked(0.125);

        field.Derivative(t0, y, k1);
        for (int i = 0; i < m; i++) stage[i] = y[i] + dt * k1[i] * third;
        field.Derivative(t0 + dt * third, stage, k2);
        for (int i = 0; i < m; i++) stage[i] = y[i] + dt * (k2[i] - k1[i] * third);
        field.Derivative(t0 + dt * twoThirds, stage, k3);
        for (int i = 0; i < m; i++) stage[i] = y[i] + dt * (k1[i] - k2[i] + k3[i]);
        field.Derivative(t1, stage, k4);
        for (int i = 0; i < m; i++) dy[i] = (k1[i] + three * (k2[i] + k3[i]) + k4[i]) * dt * eighth;
    }

    /// <summary>
    /// z at each of <paramref name="times"/> (increasing; the first is the start, where z = <paramref name="z0"/>),
    /// integrating on <see cref="Grid"/>(times[0], times[^1], step). An output time is emitted at the first grid step
    /// whose end t1 reaches it, by linear interpolation between the bracketing grid values (exact on a grid point).
    /// </summary>
    public static T[][] Solve(ClexVectorField<T> field, ReadOnlySpan<T> z0, ReadOnlySpan<T> times, T step)
    {
        ArgumentNullException.ThrowIfNull(field);
        int m = field.Pairs;
        if (z0.Length != m) throw new ArgumentException($"z0 has {z0.Length} entries, the field {m}", nameof(z0));
        if (times.Length == 0) throw new ArgumentException("no output times", nameof(times));
        for (int j = 1; j < times.Length; j++)
            if (!(times[j] > times[j - 1])) throw new ArgumentException("output times must increase", nameof(times));

        var solution = new T[times.Length][];
        solution[0] = z0.ToArray();
        if (times.Length == 1) return solution;
        var grid = Grid(times[0], times[^1], step);
        var y0 = z0.ToArray();
        var y1 = new T[m];
        var dy = new T[m];
        var scratch = new T[5 * m];
        int next = 1;
        for (int g = 0; g + 1 < grid.Length && next < times.Length; g++)
        {
            T t0 = grid[g], t1 = grid[g + 1];
            Rk4Step(field, t0, t1, y0, dy, scratch);
            for (int i = 0; i < m; i++) y1[i] = y0[i] + dy[i];
            while (next < times.Length && t1 >= times[next])
            {
                solution[next] = Interpolate(t0, t1, y0, y1, times[next]);
                next++;
            }
            (y0, y1) = (y1, y0);
        }
        return solution;
    }

    /// <summary>torchdiffeq's _linear_interp: y0 at t0, y1 at t1, else y0 + (t - t0)/(t1 - t0)·(y1 - y0).</summary>
    private static T[] Interpolate(T t0, T t1, T[] y0, T[] y1, T t)
    {
        if (t == t0) return (T[])y0.Clone();
        if (t == t1) return (T[])y1.Clone();
        T slope = (t - t0) / (t1 - t0);
        var y = new T[y0.Length];
        for (int i = 0; i < y.Length; i++) y[i] = y0[i] + slope * (y1[i] - y0[i]);
        return y;
    }
}
