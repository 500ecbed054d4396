namespace LongLM.Runtime.Rope;

/// <summary>Frequencies that do not depend on the length (tests, and methods already computed once).</summary>
public sealed class FixedRope(RopeFrequencies frequencies, int rotaryDim) : IRopeScaling
{
    /// <inheritdoc />
    public string Type => "fixed";
    /// <inheritdoc />
    public int RotaryDim => rotaryDim;
    /// <inheritdoc />
    public bool DependsOnLength => false;
    /// <inheritdoc />
    public RopeFrequencies Compute(long sequenceLength) => frequencies;
}
