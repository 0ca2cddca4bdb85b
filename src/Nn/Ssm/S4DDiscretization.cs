namespace Engine.Nn;

/// <summary>How <see cref="S4D"/> turns the continuous (A, B = 1) into the discrete (Abar, Bbar) with step dt (S4D paper, section 2.2).</summary>
public enum S4DDiscretization
{
    /// <summary>Zero-order hold: Abar = exp(dt A), Bbar = (exp(dt A) - 1) / A.</summary>
    Zoh,

    /// <summary>Bilinear (Tustin): Abar = (1 + dt A/2) / (1 - dt A/2), Bbar = dt / (1 - dt A/2).</summary>
    Bilinear,
}
