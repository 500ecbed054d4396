using System.Numerics;
using System.Numerics.Tensors;

namespace LongLM.Runtime.Rope;

/// <summary>
/// The right-hand side of CLEX's ODE for the log inverse frequencies z (m = d/2 entries), algorithms.md 3.2
/// (CLEX:CLEX/clex_layer.py::ODELinear.forward):
/// <code>
/// alpha(t)          = 2t - 1  (t &gt;= 1),  1  (t &lt; 1)
/// ln theta^ntk_k(t) = -(2k/d) ln B - (2k/(d-2)) ln alpha              (NTK-aware log frequencies)
/// xi_k(t)           = -4k / ((d-2) alpha)                             (= d/dt ln theta^ntk_k for alpha = 2t-1)
/// u                 = z + ln theta^ntk(t)                             (row vector, m)
/// dz/dt = g(t, z)   = act(u · W_up) · W_down + xi(t)                  (W_up [m, λd], W_down [λd, m], no transpose, no bias)
/// </code>
/// B is the time-embedding base, 10000 for every released model (<see cref="ClexRope.TimeEmbeddingBase"/>).
/// Generic over the precision so the float32 solve of the runtime and a float64 check share one definition.
/// </summary>
/// <remarks>
/// The time terms ln theta^ntk and xi are computed in double from the closed forms and rounded once to
/// <typeparamref name="T"/>; the reference evaluates them through float32 pow, which can differ by an ulp.
/// <see cref="Derivative"/> is the per-stage work a device kernel mirrors: one thread per hidden unit j for
/// h_j = act(sum_i u_i W_up[i, j]), then one per pair k for sum_j h_j W_down[j, k] + xi_k, each sum taken in index order.
/// An instance holds scratch buffers and is not thread-safe.
/// </remarks>
public sealed class ClexVectorField<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _up, _down;
    private readonly double[] _lnBaseTerm, _alphaTerm;
    private readonly T[] _u, _hidden;

    /// <summary>The field of a CLEX layer with <paramref name="pairs"/> = d/2 rotary pairs and <paramref name="hidden"/> = λd MLP units.</summary>
    /// <param name="upProj">ode_up_proj, row-major [pairs, hidden].</param>
    /// <param name="downProj">ode_down_proj, row-major [hidden, pairs].</param>
    /// <param name="pairs">m = d/2 (at least 2).</param>
    /// <param name="hidden">λd.</param>
    /// <param name="activation">The MLP nonlinearity.</param>
    /// <param name="timeEmbeddingBase">B; the reference always uses 10000 (other values exist for tests).</param>
    public ClexVectorField(T[] upProj, T[] downProj, int pairs, int hidden, ClexActivation activation, double timeEmbeddingBase = ClexRope.TimeEmbeddingBase)
    {
        ArgumentNullException.ThrowIfNull(upProj);
        ArgumentNullException.ThrowIfNull(downProj);
        if (pairs < 2) throw new ArgumentOutOfRangeException(nameof(pairs), pairs, "CLEX needs d >= 4 (xi divides by d - 2)");
        if (hidden < 1) throw new ArgumentOutOfRangeException(nameof(hidden), hidden, "the MLP width must be positive");
        if (upProj.Length != pairs * hidden) throw new ArgumentException($"ode_up_proj has {upProj.Length} values, [{pairs}, {hidden}] needs {pairs * hidden}", nameof(upProj));
        if (downProj.Length != hidden * pairs) throw new ArgumentException($"ode_down_proj has {downProj.Length} values, [{hidden}, {pairs}] needs {hidden * pairs}", nameof(downProj));
        if (!double.IsFinite(timeEmbeddingBase) || timeEmbeddingBase <= 1) throw new ArgumentOutOfRangeException(nameof(timeEmbeddingBase), timeEmbeddingBase, "the time-embedding base must exceed 1");
        if (!Enum.IsDefined(activation)) throw new ArgumentOutOfRangeException(nameof(activation));
        _up = upProj;
        _down = downProj;
        Pairs = pairs;
        Hidden = hidden;
        Activation = activation;
        TimeEmbeddingBase = timeEmbeddingBase;
        int d = 2 * pairs;
        _lnBaseTerm = new double[pairs];
        _alphaTerm = new double[pairs];
        for (int k = 0; k < pairs; k++)
        {
            _lnBaseTerm[k] = 2.0 * k / d * Math.Log(timeEmbeddingBase);
            _alphaTerm[k] = 2.0 * k / (d - 2);
        }
        _u = new T[pairs];
        _hidden = new T[hidden];
    }

    /// <summary>m = d/2, the length of z.</summary>
    public int Pairs { get; }
    /// <summary>λd, the MLP width.</summary>
    public int Hidden { get; }
    /// <summary>The MLP nonlinearity.</summary>
    public ClexActivation Activation { get; }
    /// <summary>B of theta^ntk.</summary>
    public double TimeEmbeddingBase { get; }

    /// <summary>alpha(t) = 2t - 1 for t &gt;= 1, else 1.</summary>
    public static double Alpha(double t) => t < 1 ? 1 : 2 * t - 1;

    /// <summary>ln theta^ntk_k(t) = -(2k/d) ln B - (2k/(d-2)) ln alpha(t), rounded to T.</summary>
    public T LogNtkFrequency(int k, double t) => LogNtk(k, Math.Log(Alpha(t)));

    /// <summary>xi_k(t) = -4k / ((d-2) alpha(t)), rounded to T.</summary>
    public T Xi(int k, double t) => XiAt(k, Alpha(t));

    private T LogNtk(int k, double lnAlpha) => T.CreateChecked(-_lnBaseTerm[k] - _alphaTerm[k] * lnAlpha);

    private T XiAt(int k, double alpha) => T.CreateChecked(-2 * _alphaTerm[k] / alpha);

    /// <summary>dz = g(t, z). <paramref name="z"/> and <paramref name="dz"/> have <see cref="Pairs"/> entries and may not overlap.</summary>
    public void Derivative(T t, ReadOnlySpan<T> z, Span<T> dz)
    {
        int m = Pairs, h = Hidden;
        if (z.Length != m || dz.Length != m) throw new ArgumentException($"z and dz must have {m} entries");
        double alpha = Alpha(double.CreateChecked(t)), lnAlpha = Math.Log(alpha);
        var u = _u.AsSpan();
        for (int k = 0; k < m; k++) u[k] = z[k] + LogNtk(k, lnAlpha);

        // hidden = act(u · W_up): row vector times [m, λd], accumulated over i in order.
        var hidden = _hidden.AsSpan();
        hidden.Clear();
        for (int i = 0; i < m; i++)
            TensorPrimitives.MultiplyAdd(_up.AsSpan(i * h, h), u[i], hidden, hidden); // hidden[j] = W_up[i, j]·u_i + hidden[j], unfused
        for (int j = 0; j < h; j++) hidden[j] = Activate(hidden[j]);

        // dz = hidden · W_down + xi: row vector times [λd, m].
        dz.Clear();
        for (int j = 0; j < h; j++)
            TensorPrimitives.MultiplyAdd(_down.AsSpan(j * m, m), hidden[j], dz, dz);
        for (int k = 0; k < m; k++) dz[k] += XiAt(k, alpha);
    }

    private T Activate(T x) => Activation == ClexActivation.Tanh ? T.Tanh(x) : x / (T.One + T.Exp(-x));
}
