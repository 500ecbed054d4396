namespace LongLM.Runtime.Rope;

/// <summary>CLEX rope_scaling "act": the nonlinearity of the ODE's MLP (algorithms.md 3.2).</summary>
public enum ClexActivation
{
    /// <summary>"silu": x / (1 + e^-x). The default when "act" is missing (the first CLEX releases hard-coded it).</summary>
    Silu,
    /// <summary>"tanh".</summary>
    Tanh,
}
