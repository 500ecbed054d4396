namespace LongLM.Runtime.Rope;

/// <summary>Argument checks shared by the scaling methods' constructors.</summary>
internal static class RopeChecks
{
    public static void BaseAndDim(double ropeTheta, int rotaryDim)
    {
        if (!double.IsFinite(ropeTheta) || ropeTheta <= 0) throw new ArgumentOutOfRangeException(nameof(ropeTheta), ropeTheta, "rope_theta must be positive");
        if (rotaryDim < 2 || rotaryDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(rotaryDim), rotaryDim, "the rotary dimension must be even and at least 2");
    }

    public static void Positive(double value, string name)
    {
        if (!double.IsFinite(value) || value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
    }
}
