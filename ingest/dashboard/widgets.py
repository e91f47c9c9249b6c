"""What more than one dashboard page shows."""

from __future__ import annotations

import streamlit as st


def empty_state(reason: str) -> None:
    st.warning(f"No data to show yet: {reason}.")
    st.markdown(
        "Build Gold first: `make demo` (the whole pipeline once) or `make run` (continuously, "
        "with the API). If only the API is missing, start it with `make api`. "
        "This page shows the figures as soon as the API answers."
    )
