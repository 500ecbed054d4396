namespace LongLM.Kernels;

/// <summary>
/// A backend cannot run on this machine (no CUDA device or driver). The message says what is missing and
/// suggests <c>--backend cpu</c>; hosts map it to their own error type.
/// </summary>
public sealed class BackendUnavailableException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public BackendUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a one-line message and the error that revealed the problem.</summary>
    public BackendUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }
}
