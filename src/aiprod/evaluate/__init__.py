"""Evaluation of the text-to-video model: FVD, flow agreement, prompt adherence, gallery."""
