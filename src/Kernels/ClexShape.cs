namespace LongLM.Kernels;

/// <summary>The nonlinearity of CLEX's ODE MLP (rope_scaling "act"; algorithms.md 3.2).</summary>
public enum ClexOdeActivation
{
    /// <summary>x / (1 + e^-x).</summary>
    Silu,
    /// <summary>tanh(x).</summary>
    Tanh,
}

/// <summary>
/// Shape of one CLEX ODE solve (<see cref="IBackend.ClexIntegrate"/>): z has <see cref="Pairs"/> = d/2 entries, the MLP
/// <see cref="Hidden"/> = λd units, the fixed grid <see cref="GridLength"/> points and the output <see cref="TimeCount"/>
/// times. The time terms table (ln θ^ntk and ξ at every RK4 stage time) has <see cref="TimePoints"/> rows of 2·Pairs
/// floats, built on the host by <see cref="Ops.ClexOde.TimeTerms"/>.
/// </summary>
/// <param name="Pairs">m = d/2, the length of z (the rotary pairs).</param>
/// <param name="Hidden">λd, the MLP width.</param>
/// <param name="Activation">The MLP nonlinearity.</param>
/// <param name="GridLength">n, the points of the fixed grid (n - 1 RK4 steps).</param>
/// <param name="TimeCount">The output times (the first is the grid's start, where z = z0).</param>
public readonly record struct ClexShape(int Pairs, int Hidden, ClexOdeActivation Activation, int GridLength, int TimeCount)
{
    /// <summary>
    /// Rows of the time terms table: three per step (t0, t0 + dt/3, t0 + 2dt/3) and the grid's last point; the fourth
    /// stage of step g (at t1) reads row 3(g + 1), the first stage of the next step.
    /// </summary>
    public int TimePoints => 3 * (GridLength - 1) + 1;

    /// <summary>Checks the counts (each positive, the table's size within int range).</summary>
    public void Validate()
    {
        if (Pairs < 1 || Hidden < 1 || GridLength < 1 || TimeCount < 1 || !Enum.IsDefined(Activation))
            throw new ArgumentException($"bad CLEX ODE shape {this}");
        if ((long)TimePoints * 2 * Pairs > int.MaxValue || (long)TimeCount * Pairs > int.MaxValue || (long)Pairs * Hidden > int.MaxValue)
            throw new ArgumentException($"CLEX ODE shape {this} is too large");
    }
}
