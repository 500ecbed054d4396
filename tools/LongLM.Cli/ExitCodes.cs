namespace LongLM.Cli;

/// <summary>Process exit codes.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>A bug in LongLM (unexpected exception).</summary>
    public const int InternalError = 1;
    /// <summary>Bad flag, bad path, bad model file, bad prompt: the user can fix it.</summary>
    public const int UsageError = 2;
}
