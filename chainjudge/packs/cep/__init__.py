"""The customer-engagement (CEP) decision pack: user-state scenarios, the contact policy that derives
the expected next action, a scenario generator, and decision-correctness scoring."""
