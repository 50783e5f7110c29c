"""customer360 page (being built)."""
import streamlit as st

st.title("customer360")
st.info("This page is being built.")
